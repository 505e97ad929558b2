// cpp/include/safu/errors.h - the exceptions the core throws (never exit()).
//
//   try { safu::ModelFile f = safu::ModelFile::load("m.safu"); }
//   catch (const safu::FormatError& e) { ... }   // bound to Python as a ValueError subclass
//
// Messages name the path (or "<bytes>"), the field, and expected vs actual values.
#pragma once

#include <stdexcept>
#include <string>

namespace safu {

// Base of every error the core throws on bad input.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// The bytes of a model file (or a field in it) are not what docs/format.md allows.
class FormatError : public Error {
 public:
  explicit FormatError(const std::string& what) : Error(what) {}
};

// The file could not be opened or read.
class IoError : public Error {
 public:
  explicit IoError(const std::string& what) : Error(what) {}
};

// A tensor or an argument has the wrong shape, or an id is out of range.
class ShapeError : public Error {
 public:
  explicit ShapeError(const std::string& what) : Error(what) {}
};

}  // namespace safu
