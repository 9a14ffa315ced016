# Packaging (included last from the root CMakeLists.txt): the collector's install rule, the systemd unit and its
# environment file, and CPack's .deb (`make package`, or `cpack -G DEB` in the build tree).
#
# The unit and /etc/default/llmtrace-collector belong to the component `llmtrace-system`, excluded from a plain
# `cmake --install` (it would write to /etc of the building machine, and the unit names the package's
# /usr/bin path); the .deb takes every component. Works the same with the UI embedded or not.
include(GNUInstallDirs)

# Built into another project (add_subdirectory, FetchContent): its install and packaging are its own business.
if(NOT PROJECT_IS_TOP_LEVEL OR NOT LLMTRACE_INSTALL)
  return()
endif()

if(TARGET llmtrace-collector)
  install(TARGETS llmtrace-collector RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(LLMTRACE_PACKAGE_PREFIX /usr)
set(LLMTRACE_COLLECTOR_PATH ${LLMTRACE_PACKAGE_PREFIX}/bin/llmtrace-collector)
set(LLMTRACE_DOCDIR ${LLMTRACE_PACKAGE_PREFIX}/share/doc/llmtrace)
configure_file(${CMAKE_CURRENT_LIST_DIR}/llmtrace-collector.service.in
               ${PROJECT_BINARY_DIR}/packaging/llmtrace-collector.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/packaging/llmtrace-collector.service
        DESTINATION lib/systemd/system COMPONENT llmtrace-system EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/llmtrace-collector.default DESTINATION /etc/default
        RENAME llmtrace-collector PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
        COMPONENT llmtrace-system EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/llmtrace
        COMPONENT llmtrace-system EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME llmtrace)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR llmtrace)
set(LLMTRACE_PACKAGE_CONTACT "llmtrace maintainers <maintainers@llmtrace.invalid>" CACHE STRING
    "Maintainer field of the .deb")
set(CPACK_PACKAGE_CONTACT "${LLMTRACE_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LLM call tracer: collector daemon with API and UI, C++ SDK and C API")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "llmtrace records LLM calls: the llmtrace-collector daemon (REST API, web UI, OpenAI-compatible proxy, systemd "
  "unit), the C++ SDK (static libllmtrace, CMake package llmtrace::llmtrace, pkg-config llmtrace) and the C API "
  "(libllmtrace_c.so, pkg-config llmtrace-c) that the Python and Node bindings load.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${LLMTRACE_PACKAGE_PREFIX})
set(CPACK_INSTALL_PREFIX ${LLMTRACE_PACKAGE_PREFIX})
# DESTDIR staging: the absolute /etc/default destination lands in the package, not on the building machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
get_cmake_property(CPACK_COMPONENTS_ALL COMPONENTS)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime libraries from the binaries (dpkg-shlibdeps, from dpkg-dev); the SDK's static link needs httplib's
# development files, which a C-only or collector-only user does not.
find_program(LLMTRACE_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(LLMTRACE_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps not found (apt-get install dpkg-dev): the .deb gets a fixed Depends list")
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6, libstdc++6, libcpp-httplib0.11, libsqlite3-0, libspdlog1.10, libfmt9, libssl3, zlib1g, libbrotli1, libpq5")
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libcpp-httplib-dev, pkg-config")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm ${CMAKE_CURRENT_LIST_DIR}/debian/postrm
    ${CMAKE_CURRENT_LIST_DIR}/debian/conffiles ${CMAKE_CURRENT_LIST_DIR}/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# A shlibs file for packages that link libllmtrace_c.so; debian/triggers runs ldconfig for it.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
include(CPack)
