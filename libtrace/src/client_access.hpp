// Inside access to a client for tests and in-process tools: build a client around a chosen exporter (e.g.
// memory_exporter) and read its internal counters. Not part of the public API.
#pragma once

#include "client_impl.hpp"

namespace llmtrace {

struct detail_access {
  static client make(options o, detail::exporter_factory f);
  static client::impl& impl_of(client& c) { return *c.impl_; }
};

}  // namespace llmtrace
