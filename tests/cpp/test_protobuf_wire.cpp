// The protobuf wire-format reader (parsers/common/protobuf_wire.h): scalars, strings, nested messages,
// packed and unpacked repeated fields read back what was encoded; truncated lengths, overlong varints,
// bad wire types, oversize counts and too-deep nesting are refused with kINVALID_MODEL errors that name
// the message and field. Prints "N passed, M failed"; exit code != 0 on failure.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "parsers/common/protobuf_wire.h"
#include "protobuf_encode.h"

using gie::wire::WireReader;
using gie::wire::WireType;

namespace {

int gPassed = 0, gFailed = 0;
void check(bool ok, const std::string& what) {
  if (ok) {
    ++gPassed;
  } else {
    ++gFailed;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

using pbenc::Buf;
using pbenc::varint;
void tag(Buf& b, uint32_t field, WireType t) { pbenc::tag(b, field, uint32_t(t)); }
void lenField(Buf& b, uint32_t field, const Buf& payload) { pbenc::lenField(b, field, payload); }
template <typename T>
void raw(Buf& b, T v) {
  char tmp[sizeof(T)];
  std::memcpy(tmp, &v, sizeof(T));
  b.append(tmp, sizeof(T));
}

// Runs fn and returns the kINVALID_MODEL message it threw ("" if it did not throw that).
template <typename F>
std::string errorOf(F fn) {
  try {
    fn();
  } catch (const gie::Error& e) {
    return e.code() == gie::ErrorCode::kINVALID_MODEL ? std::string(e.what()) : std::string("wrong code");
  }
  return "";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void readsWhatWasWritten() {
  Buf inner;
  tag(inner, 1, WireType::kVARINT);
  varint(inner, 300);
  Buf b;
  tag(b, 1, WireType::kVARINT);
  varint(b, uint64_t(int64_t(-5)));  // negative int64: 10-byte varint
  tag(b, 2, WireType::kFIXED32);
  raw(b, 1.5f);
  tag(b, 3, WireType::kFIXED64);
  raw(b, -2.25);
  lenField(b, 4, Buf("hi"));
  lenField(b, 5, inner);
  Buf packed;
  for (uint64_t v : {1u, 200u, 70000u}) varint(packed, v);
  lenField(b, 6, packed);
  tag(b, 6, WireType::kVARINT);  // an unpacked element after the packed run appends
  varint(b, 9);
  Buf floats;
  raw(floats, 0.5f);
  raw(floats, 4.0f);
  lenField(b, 7, floats);
  tag(b, 99, WireType::kFIXED64);  // unknown fields are skipped
  raw(b, uint64_t(7));

  WireReader r(b.data(), b.size(), "test model", "Top");
  int64_t i = 0;
  float f = 0;
  double d = 0;
  std::string s;
  int32_t innerV = 0;
  std::vector<int64_t> ints;
  std::vector<float> fs;
  while (r.next()) {
    switch (r.field()) {
      case 1: i = r.int64(); break;
      case 2: f = r.float32(); break;
      case 3: d = r.float64(); break;
      case 4: s = r.string(); break;
      case 5: {
        WireReader m = r.message("Inner");
        while (m.next()) m.field() == 1 ? (void)(innerV = m.int32()) : m.skip();
        check(m.depth() == 1, "nested depth");
        break;
      }
      case 6: r.appendInt64s(ints); break;
      case 7: r.appendFloats(fs); break;
      default: r.skip();
    }
  }
  check(i == -5, "negative int64");
  check(f == 1.5f, "fixed32 float");
  check(d == -2.25, "fixed64 double");
  check(s == "hi", "string");
  check(innerV == 300, "nested message");
  check(ints == std::vector<int64_t>({1, 200, 70000, 9}), "packed + unpacked int64s");
  check(fs == std::vector<float>({0.5f, 4.0f}), "packed floats");
}

void refusesMalformedInput() {
  {  // a length that runs past the end
    Buf b;
    tag(b, 4, WireType::kLEN);
    varint(b, 1000);
    b.push_back('x');
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      while (r.next()) r.string();
    });
    check(contains(e, "test model: Top field 4") && contains(e, "past the end"), "truncated length: " + e);
  }
  {  // the same through skip()
    Buf b;
    tag(b, 4, WireType::kLEN);
    varint(b, uint64_t(1) << 62);
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      while (r.next()) r.skip();
    });
    check(contains(e, "past the end"), "huge length skipped: " + e);
  }
  {  // an overlong varint
    Buf b;
    tag(b, 1, WireType::kVARINT);
    for (int k = 0; k < 11; ++k) b.push_back('\xff');
    b.push_back(0);
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      while (r.next()) r.varint();
    });
    check(contains(e, "varint"), "overlong varint: " + e);
  }
  {  // a truncated varint
    Buf b;
    tag(b, 1, WireType::kVARINT);
    b.push_back('\x80');
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      while (r.next()) r.varint();
    });
    check(contains(e, "truncated varint"), "truncated varint: " + e);
  }
  {  // wire type mismatch names the field
    Buf b;
    tag(b, 3, WireType::kVARINT);
    varint(b, 1);
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      while (r.next()) r.float32();
    });
    check(contains(e, "Top field 3") && contains(e, "fixed32"), "wire type mismatch: " + e);
  }
  {  // wire types 6/7, groups and field number 0
    for (uint64_t t : {uint64_t(6), uint64_t(7), uint64_t((1 << 3) | 3), uint64_t(0)}) {
      Buf b;
      varint(b, t < 8 && t != 0 ? (uint64_t(1) << 3) | t : t);
      b.push_back(0);
      std::string e = errorOf([&] {
        WireReader r(b.data(), b.size(), "test model", "Top");
        while (r.next()) r.skip();
      });
      check(!e.empty(), "bad tag " + std::to_string(t) + " refused");
    }
  }
  {  // a packed fixed32 run that is not a multiple of 4
    Buf b;
    lenField(b, 7, Buf("\x01\x02\x03\x04\x05"));
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      std::vector<float> fs;
      while (r.next()) r.appendFloats(fs);
    });
    check(contains(e, "multiple of 4"), "ragged packed floats: " + e);
  }
  {  // count bound before allocation
    Buf packed(64, '\x01');
    Buf b;
    lenField(b, 6, packed);
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      std::vector<int64_t> v;
      while (r.next()) r.appendInt64s(v, 10);
    });
    check(contains(e, "more than 10"), "count bound: " + e);
  }
  {  // a packed varint run whose last element is cut by the run's end does not read past it
    Buf b;
    lenField(b, 6, Buf("\x80"));
    tag(b, 1, WireType::kVARINT);
    varint(b, 1);
    std::string e = errorOf([&] {
      WireReader r(b.data(), b.size(), "test model", "Top");
      std::vector<int64_t> v;
      while (r.next()) r.field() == 6 ? r.appendInt64s(v) : r.skip();
    });
    check(contains(e, "truncated varint"), "packed run confines varints: " + e);
  }
  {  // nesting deeper than kMaxDepth
    Buf b;
    for (int k = 0; k < gie::wire::kMaxDepth + 2; ++k) {
      Buf outer;
      lenField(outer, 1, b);
      b.swap(outer);
    }
    std::string e = errorOf([&] {
      std::vector<WireReader> stack;
      stack.emplace_back(b.data(), b.size(), "test model", "M");
      while (stack.back().next()) stack.push_back(stack.back().message("M"));
    });
    check(contains(e, "nested deeper"), "depth bound: " + e);
  }
}

}  // namespace

int main() {
  readsWhatWasWritten();
  refusesMalformedInput();
  std::printf("%d passed, %d failed\n", gPassed, gFailed);
  return gFailed == 0 ? 0 : 1;
}
