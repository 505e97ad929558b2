// cpp/include/safu/crc32.h - CRC-32 with the zlib polynomial (same value as Python's zlib.crc32).
//
//   uint32_t c = safu::crc32(bytes, n);            // whole buffer
//   c = safu::crc32(more, m, c);                   // continue a running CRC
#pragma once

#include <cstddef>
#include <cstdint>

namespace safu {

// Returns the CRC-32 of data[0..n) continuing from `crc` (0 to start).
uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0);

}  // namespace safu
