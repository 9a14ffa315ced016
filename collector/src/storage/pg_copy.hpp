// COPY ... FROM STDIN WITH (FORMAT binary) input, built in memory: the PostgreSQL write transaction stores a
// batch's new records with one such COPY. Binary, because the server then takes each value as it is: above
// all the tsvector, whose text form the server would parse lexeme by lexeme (~150 us of server CPU for a 2 KB
// record's ~200 lexemes, measured; docs/BENCHMARKS.md row 2c). Not thread-safe: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmtrace::storage::pg {

class binary_copy {
 public:
  binary_copy();
  void reserve(std::size_t bytes) { buf_.reserve(bytes); }
  // Starts a row of `fields` values; then exactly that many value calls.
  void row(int16_t fields);
  void null();
  void text(std::string_view v);
  void text_or_null(std::string_view v);  // empty: NULL
  void int2(int16_t v);
  void int8(int64_t v);
  void int8(const std::optional<int64_t>& v);
  void float8(const std::optional<double>& v);
  // The tsvector a tsvector literal of pg_search (tsvector_literal: 'lexeme':position ...) stands for, as the
  // server's own parser would make it: lexemes sorted and merged, each one's positions sorted, unique and at
  // most 256, so the stored value is the same whichever form was sent. false (nothing appended): the literal
  // is not of that shape.
  bool tsvector(std::string_view literal);
  // The whole COPY input (trailer appended); the object is spent.
  std::string take();
  std::size_t size() const { return buf_.size(); }

 private:
  void be16(uint16_t v);
  void be32(uint32_t v);
  void be64(uint64_t v);
  std::string buf_;
};

}  // namespace llmtrace::storage::pg
