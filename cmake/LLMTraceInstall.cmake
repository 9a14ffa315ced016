# Install rules of the SDK (included at the end of libtrace/CMakeLists.txt): both libraries, the headers, the
# relocatable CMake package (llmtraceConfig.cmake, its version file, llmtraceTargets.cmake) and the pkg-config
# files llmtrace.pc and llmtrace-c.pc.
#
# Why the exported link interface is rewritten here: libllmtrace.a is static, so every private dependency of it
# reaches the consumer's link line. Objects of OBJECT libraries are already inside the archive and header-only
# libraries link nothing: both stay build-only (install(EXPORT) would otherwise refuse them). httplib is an
# imported target of pkg_check_modules, which does not survive an export: llmtraceConfig.cmake finds it again
# through pkg-config under its own name. The build tree keeps the original interface untouched.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(NOT TARGET llmtrace::llmtrace_c)
  add_library(llmtrace::llmtrace_c ALIAS llmtrace_c)
endif()

# Like fmt and spdlog: a project that builds llmtrace inside its own tree (add_subdirectory, FetchContent) gets no
# llmtrace install rules unless it asks, so its `cmake --install` neither ships our files nor needs targets that
# EXCLUDE_FROM_ALL left unbuilt.
option(LLMTRACE_INSTALL "Install rules for the libraries, headers, CMake package and pkg-config files"
       ${PROJECT_IS_TOP_LEVEL})
if(NOT LLMTRACE_INSTALL)
  return()
endif()

# Maps one INTERFACE_LINK_LIBRARIES item to what an installed consumer links (empty: nothing), and records in
# global properties which dependencies llmtraceConfig.cmake and llmtrace.pc must bring.
function(_llmtrace_installed_link_item item out_var)
  set(name "${item}")
  set(link_only FALSE)
  if(name MATCHES "^\\$<LINK_ONLY:(.+)>$")
    set(name "${CMAKE_MATCH_1}")
    set(link_only TRUE)
  endif()
  set(mapped "")
  if(name MATCHES "^::@")
    # directory markers CMake adds around items linked from another directory: not a dependency
  elseif(name STREQUAL "PkgConfig::HTTPLIB")
    set(mapped "PkgConfig::llmtrace_httplib")
    set_property(GLOBAL APPEND PROPERTY _LLMTRACE_EXPORT_DEPS httplib)
  elseif(name STREQUAL "Threads::Threads")
    set(mapped "Threads::Threads")
    set_property(GLOBAL APPEND PROPERTY _LLMTRACE_EXPORT_DEPS threads)
  elseif(name MATCHES "^OpenSSL::(SSL|Crypto)$")
    set(mapped "${name}")
    set_property(GLOBAL APPEND PROPERTY _LLMTRACE_EXPORT_DEPS "openssl_${CMAKE_MATCH_1}")
  elseif(name STREQUAL "ZLIB::ZLIB")
    set(mapped "ZLIB::ZLIB")
    set_property(GLOBAL APPEND PROPERTY _LLMTRACE_EXPORT_DEPS zlib)
  elseif(TARGET "${name}")
    get_target_property(type "${name}" TYPE)
    get_target_property(imported "${name}" IMPORTED)
    get_target_property(sub "${name}" INTERFACE_LINK_LIBRARIES)
    if(NOT sub)
      set(sub "")
    endif()
    if(type STREQUAL "OBJECT_LIBRARY" OR (type STREQUAL "INTERFACE_LIBRARY" AND (NOT imported OR sub STREQUAL "")))
      # Objects already in the archive, an in-tree interface library, or a header-only package: only what they
      # link themselves (if anything) reaches the consumer.
      foreach(s IN LISTS sub)
        _llmtrace_installed_link_item("$<LINK_ONLY:${s}>" m)
        list(APPEND mapped ${m})
      endforeach()
      set(link_only FALSE)
    else()
      message(WARNING "llmtrace install: libllmtrace links '${name}', which cmake/LLMTraceInstall.cmake does not "
                      "know; it is exported as is, so llmtraceConfig.cmake and llmtrace.pc must learn to find it.")
      set(mapped "${name}")
    endif()
  else()
    set(mapped "${name}") # a plain library name or flag
  endif()
  if(link_only AND NOT mapped STREQUAL "")
    set(mapped "$<LINK_ONLY:${mapped}>")
  endif()
  set(${out_var} "${mapped}" PARENT_SCOPE)
endfunction()

set_property(GLOBAL PROPERTY _LLMTRACE_EXPORT_DEPS threads)
get_target_property(_llmtrace_iface llmtrace INTERFACE_LINK_LIBRARIES)
if(_llmtrace_iface)
  set(_llmtrace_new_iface "")
  foreach(_item IN LISTS _llmtrace_iface)
    if(_item MATCHES "^\\$<(BUILD|INSTALL)_INTERFACE:")
      list(APPEND _llmtrace_new_iface "${_item}") # already explicit about where it applies
      continue()
    endif()
    list(APPEND _llmtrace_new_iface "$<BUILD_INTERFACE:${_item}>")
    _llmtrace_installed_link_item("${_item}" _mapped)
    foreach(_m IN LISTS _mapped)
      list(APPEND _llmtrace_new_iface "$<INSTALL_INTERFACE:${_m}>")
    endforeach()
  endforeach()
  set_property(TARGET llmtrace PROPERTY INTERFACE_LINK_LIBRARIES "${_llmtrace_new_iface}")
endif()
get_property(_llmtrace_deps GLOBAL PROPERTY _LLMTRACE_EXPORT_DEPS)
list(REMOVE_DUPLICATES _llmtrace_deps)

# What llmtraceConfig.cmake finds and what llmtrace.pc lists, per dependency.
set(LLMTRACE_CONFIG_DEPENDENCIES "")
set(_pc_requires "")
set(_pc_libs "")
if("threads" IN_LIST _llmtrace_deps)
  string(APPEND LLMTRACE_CONFIG_DEPENDENCIES "find_dependency(Threads)\n")
  list(APPEND _pc_libs "-pthread")
endif()
if("httplib" IN_LIST _llmtrace_deps)
  # Soft: a C-only consumer (llmtrace::llmtrace_c) does not need httplib's development files.
  string(APPEND LLMTRACE_CONFIG_DEPENDENCIES [[
if(NOT TARGET PkgConfig::llmtrace_httplib)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(llmtrace_httplib QUIET IMPORTED_TARGET cpp-httplib)
  endif()
  if(NOT TARGET PkgConfig::llmtrace_httplib AND NOT ${CMAKE_FIND_PACKAGE_NAME}_FIND_QUIETLY)
    message(WARNING "llmtrace: cpp-httplib was not found through pkg-config (Debian: libcpp-httplib-dev); "
                    "llmtrace::llmtrace_c works, the static llmtrace::llmtrace cannot link without it.")
  endif()
endif()
]])
  list(APPEND _pc_requires cpp-httplib)
  list(APPEND _pc_libs ${HTTPLIB_LDFLAGS})
endif()
foreach(_c IN ITEMS SSL Crypto)
  if("openssl_${_c}" IN_LIST _llmtrace_deps)
    string(APPEND LLMTRACE_CONFIG_DEPENDENCIES "find_dependency(OpenSSL)\n")
    list(APPEND _pc_requires openssl)
    list(APPEND _pc_libs -lssl -lcrypto)
    break()
  endif()
endforeach()
if("zlib" IN_LIST _llmtrace_deps)
  string(APPEND LLMTRACE_CONFIG_DEPENDENCIES "find_dependency(ZLIB)\n")
  list(APPEND _pc_requires zlib)
  list(APPEND _pc_libs -lz)
endif()
list(REMOVE_DUPLICATES _pc_requires)
list(REMOVE_DUPLICATES _pc_libs)
list(JOIN _pc_requires ", " LLMTRACE_PC_REQUIRES_PRIVATE)
list(JOIN _pc_libs " " LLMTRACE_PC_LIBS)

install(TARGETS llmtrace llmtrace_c EXPORT llmtraceTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/libtrace/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(LLMTRACE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/llmtrace)
install(EXPORT llmtraceTargets NAMESPACE llmtrace:: DESTINATION ${LLMTRACE_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/llmtraceConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/llmtraceConfig.cmake INSTALL_DESTINATION ${LLMTRACE_CMAKE_DIR})
# 0.x: a minor release may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/llmtraceConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/llmtraceConfig.cmake ${PROJECT_BINARY_DIR}/cmake/llmtraceConfigVersion.cmake
        DESTINATION ${LLMTRACE_CMAKE_DIR})

# pkg-config: relocatable through ${pcfiledir}, like the CMake package.
file(RELATIVE_PATH LLMTRACE_PC_PREFIX_REL "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" LLMTRACE_PC_PREFIX_REL "${LLMTRACE_PC_PREFIX_REL}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/llmtrace.pc.in ${PROJECT_BINARY_DIR}/cmake/llmtrace.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/llmtrace-c.pc.in ${PROJECT_BINARY_DIR}/cmake/llmtrace-c.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/llmtrace.pc ${PROJECT_BINARY_DIR}/cmake/llmtrace-c.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
