#include "otlp/wire_reader.hpp"

#include <cstring>
#include <utility>

namespace llmtrace::otlp::wire {

void reader::fail(std::string message, std::size_t at) const {
  throw wire_error{std::move(message), at};
}

uint64_t reader::read_varint() {
  const std::size_t start = pos_;
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) fail("truncated varint", base_ + start);
    const auto b = static_cast<uint8_t>(data_[pos_++]);
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && (b & 0x7e) != 0) fail("varint overflows 64 bits", base_ + start);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  fail("varint longer than 10 bytes", base_ + start);
}

uint64_t reader::read_fixed64() {
  if (data_.size() - pos_ < 8) fail("truncated fixed64", base_ + pos_);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + static_cast<std::size_t>(i)]);
  pos_ += 8;
  return v;
}

uint32_t reader::read_fixed32() {
  if (data_.size() - pos_ < 4) fail("truncated fixed32", base_ + pos_);
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + static_cast<std::size_t>(i)]);
  pos_ += 4;
  return v;
}

std::string_view reader::read_bytes(std::size_t* start_offset) {
  const std::size_t at = pos_;
  const uint64_t n = read_varint();
  if (n > data_.size() - pos_)
    fail("length " + std::to_string(n) + " runs past the end of its message (" +
             std::to_string(data_.size() - pos_) + " bytes left)",
         base_ + at);
  if (start_offset) *start_offset = base_ + pos_;
  auto out = data_.substr(pos_, static_cast<std::size_t>(n));
  pos_ += static_cast<std::size_t>(n);
  return out;
}

field_header reader::next_field() {
  field_header h;
  h.offset = base_ + pos_;
  const uint64_t tag = read_varint();
  const uint64_t number = tag >> 3;
  if (number == 0 || number > 536'870'911u) fail("invalid field number " + std::to_string(number), h.offset);
  h.number = static_cast<uint32_t>(number);
  const auto t = static_cast<uint8_t>(tag & 7);
  if (t > 5) fail("invalid wire type " + std::to_string(t), h.offset);
  h.type = static_cast<wire_type>(t);
  return h;
}

void reader::skip(const field_header& f) {
  switch (f.type) {
    case wire_type::varint:
      read_varint();
      return;
    case wire_type::fixed64:
      read_fixed64();
      return;
    case wire_type::len:
      read_bytes();
      return;
    case wire_type::fixed32:
      read_fixed32();
      return;
    default:
      fail("groups are not used by OTLP (field " + std::to_string(f.number) + ")", f.offset);
  }
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_tag(std::string& out, uint32_t number, wire_type type) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | static_cast<uint8_t>(type));
}

void put_bytes_field(std::string& out, uint32_t number, std::string_view bytes) {
  put_tag(out, number, wire_type::len);
  put_varint(out, bytes.size());
  out.append(bytes);
}

void put_varint_field(std::string& out, uint32_t number, uint64_t v) {
  put_tag(out, number, wire_type::varint);
  put_varint(out, v);
}

}  // namespace llmtrace::otlp::wire
