// A reader for the protobuf wire format (varint, fixed32, fixed64, length-delimited), written from the
// encoding rules, strict about bounds: every read checks the remaining bytes and reports the absolute offset
// of what went wrong. It knows no message types; protobuf_decode.cpp walks the OTLP messages with it.
// Thread safety: one reader per thread; it only views the caller's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace llmtrace::otlp::wire {

enum class wire_type : uint8_t {
  varint = 0,
  fixed64 = 1,
  len = 2,
  start_group = 3,
  end_group = 4,
  fixed32 = 5
};

struct field_header {
  uint32_t number = 0;
  wire_type type = wire_type::varint;
  std::size_t offset = 0;  // absolute offset of the tag
};

// Thrown for malformed input only; protobuf_decode catches it and turns it into a decode error.
struct wire_error {
  std::string message;
  std::size_t offset = 0;
};

class reader {
 public:
  // base: the absolute offset of data[0] inside the whole body (sub-readers report absolute offsets).
  explicit reader(std::string_view data, std::size_t base = 0) : data_(data), base_(base) {}

  bool done() const noexcept { return pos_ >= data_.size(); }
  std::size_t offset() const noexcept { return base_ + pos_; }

  field_header next_field();
  uint64_t read_varint();
  uint64_t read_fixed64();
  uint32_t read_fixed32();
  // The bytes of a length-delimited field, and the absolute offset where they start.
  std::string_view read_bytes(std::size_t* start_offset = nullptr);
  // Skips a field of any known wire type (unknown fields); groups are refused.
  void skip(const field_header& f);

 private:
  [[noreturn]] void fail(std::string message, std::size_t at) const;

  std::string_view data_;
  std::size_t base_ = 0;
  std::size_t pos_ = 0;
};

// Appenders for the small replies the collector writes (ExportTraceServiceResponse, google.rpc.Status).
void put_varint(std::string& out, uint64_t v);
void put_tag(std::string& out, uint32_t number, wire_type type);
void put_bytes_field(std::string& out, uint32_t number, std::string_view bytes);
void put_varint_field(std::string& out, uint32_t number, uint64_t v);

}  // namespace llmtrace::otlp::wire
