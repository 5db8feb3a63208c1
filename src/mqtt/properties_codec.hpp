// Internal to the codec: reading, sizing and writing a v5 property block for one packet context.
#pragma once

#include <cstddef>

#include "mqtt/properties.hpp"
#include "mqtt/wire.hpp"

namespace psos::mqtt::wire {

// Reads a Property Length and the properties after it, checking each one: known identifier and
// allowed in `context` (else Malformed Packet, spec 2.2.2.2), not repeated unless repeatable and
// value in range (else Protocol Error), and that the block does not run past the packet.
bool read_properties(Reader& reader, PropertyContext context, Properties& out);

// Bytes of the property block including its length prefix. Sets `ok` false when a string is too
// long; `error` names the first property that is not allowed in `context`.
std::size_t properties_block_size(const Properties& properties, PropertyContext context, bool& ok,
                                  Error& error) noexcept;

// Writes the block sized by properties_block_size (length prefix first).
void write_properties(Writer& writer, const Properties& properties);

}  // namespace psos::mqtt::wire
