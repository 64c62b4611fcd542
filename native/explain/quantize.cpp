// quantize.cpp — see quantize.h.
#include "quantize.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <set>

namespace cellcam::explain {

Result<Quantize> parse_quantize(const std::string& name) {
  if (name == "none" || name.empty()) return Quantize::kNone;
  if (name == "fp16") return Quantize::kFp16;
  if (name == "int8") return Quantize::kInt8;
  return make_error(ErrorCode::kInvalidArgument, "--quantize must be none, fp16 or int8, not '" + name + "'");
}

const char* quantize_name(Quantize mode) {
  switch (mode) {
    case Quantize::kFp16: return "fp16";
    case Quantize::kInt8: return "int8";
    case Quantize::kNone: break;
  }
  return "none";
}

// ---------------------------------------------------------------------------------------------------
// binary16

std::uint16_t float_to_half(float value) {
  std::uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) return sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u);  // inf, NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
  if (magnitude < 0x38800000u) {                          // below 2^-14: a subnormal half (or 0)
    const float scaled = std::fabs(value) * 16777216.0f;   // in units of 2^-24, exact
    return sign | static_cast<std::uint16_t>(std::nearbyint(scaled));  // ties to even; 1024 is the smallest normal
  }
  const std::uint32_t exponent = (magnitude >> 23) - 127 + 15;
  const std::uint32_t mantissa = magnitude & 0x7fffffu;
  std::uint32_t half = (exponent << 10) | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry moves into the exponent, as it should
  return static_cast<std::uint16_t>(sign | half);
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {
    const float v = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -v : v;
  }
  const std::uint32_t x = exponent == 31 ? sign | 0x7f800000u | (mantissa << 13) : sign | ((exponent + 112) << 23) | (mantissa << 13);
  float out;
  std::memcpy(&out, &x, sizeof out);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// int8, per channel

Int8Tensor quantize_int8(const std::vector<float>& values, std::int64_t channels) {
  Int8Tensor t;
  const std::size_t per = channels > 0 ? values.size() / static_cast<std::size_t>(channels) : 0;
  t.q.resize(values.size());
  t.scales.assign(static_cast<std::size_t>(std::max<std::int64_t>(channels, 0)), 1.0f);
  for (std::size_t c = 0; c < t.scales.size(); ++c) {
    float largest = 0.0f;
    for (std::size_t i = c * per; i < (c + 1) * per; ++i) largest = std::max(largest, std::fabs(values[i]));
    const float scale = largest > 0.0f ? largest / 127.0f : 1.0f;
    t.scales[c] = scale;
    for (std::size_t i = c * per; i < (c + 1) * per; ++i)
      t.q[i] = static_cast<std::int8_t>(std::clamp(std::nearbyint(values[i] / scale), -127.0f, 127.0f));
  }
  return t;
}

std::vector<float> dequantize_int8(const Int8Tensor& t) {
  std::vector<float> out(t.q.size());
  const std::size_t per = t.scales.empty() ? 0 : t.q.size() / t.scales.size();
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(t.q[i]) * t.scales[i / per];
  return out;
}

std::vector<float> round_trip(const std::vector<float>& values, std::int64_t channels, Quantize mode) {
  if (mode == Quantize::kInt8) return dequantize_int8(quantize_int8(values, channels));
  std::vector<float> out = values;
  if (mode == Quantize::kFp16)
    for (float& v : out) v = half_to_float(float_to_half(v));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// the graph

namespace {

std::vector<float> float_values(const onnx::TensorProto& t) {
  if (t.has_raw_data()) {
    std::vector<float> v(t.raw_data().size() / sizeof(float));
    std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(float));
    return v;
  }
  return std::vector<float>(t.float_data().begin(), t.float_data().end());
}

template <typename T>
void set_raw(onnx::TensorProto* t, const std::vector<T>& v) {
  t->clear_float_data();
  t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
}

class GraphQuantizer {
 public:
  GraphQuantizer(onnx::GraphProto& g, Quantize mode) : g_(g), mode_(mode) {
    for (const onnx::TensorProto& t : g.initializer()) used_.insert(t.name());
    for (const onnx::NodeProto& n : g.node()) {
      used_.insert(n.name());
      for (const std::string& o : n.output()) used_.insert(o);
    }
    for (const onnx::ValueInfoProto& v : g.input()) used_.insert(v.name());
  }

  // Every float initialiser of rank >= 2, stored smaller; the nodes that widen them go first.
  QuantizedGraph run() {
    QuantizedGraph out;
    google::protobuf::RepeatedPtrField<onnx::NodeProto> original;
    original.Swap(g_.mutable_node());
    const int count = g_.initializer_size();
    for (int i = 0; i < count; ++i) {
      onnx::TensorProto* t = g_.mutable_initializer(i);
      if (t->data_type() != onnx::TensorProto::FLOAT || t->dims_size() < 2) continue;
      const long long before = static_cast<long long>(float_values(*t).size() * sizeof(float));
      out.weight_bytes_before += before;
      out.weight_bytes_after += mode_ == Quantize::kFp16 ? to_fp16(t) : to_int8(t);
      ++out.tensors;
    }
    for (onnx::NodeProto& n : original) *g_.add_node() = std::move(n);
    return out;
  }

 private:
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }

  // The node that gives `t`'s old name its float32 value back; `t` takes a fresh name.
  onnx::NodeProto* widen(onnx::TensorProto* t, const std::string& op, const std::string& suffix) {
    const std::string name = t->name();
    t->set_name(fresh(name + suffix));
    onnx::NodeProto* n = g_.add_node();
    n->set_op_type(op);
    n->set_name(fresh("node/" + op + "/" + name));
    n->add_input(t->name());
    n->add_output(name);
    return n;
  }

  long long to_fp16(onnx::TensorProto* t) {
    const std::vector<float> v = float_values(*t);
    std::vector<std::uint16_t> halves(v.size());
    std::transform(v.begin(), v.end(), halves.begin(), float_to_half);
    t->set_data_type(onnx::TensorProto::FLOAT16);
    set_raw(t, halves);
    add_int(widen(t, "Cast", ".fp16"), "to", onnx::TensorProto::FLOAT);
    return static_cast<long long>(halves.size() * sizeof(std::uint16_t));
  }

  // int8 -> Cast -> Mul by the channel scales (C,1,...): ORT folds both at load (it leaves a
  // DequantizeLinear of a constant unfolded, for its QDQ fusions, and then cannot pre-pack the kernels).
  long long to_int8(onnx::TensorProto* t) {
    const std::int64_t channels = t->dims(0);
    const Int8Tensor q = quantize_int8(float_values(*t), channels);
    std::vector<std::int64_t> scale_dims(static_cast<std::size_t>(t->dims_size()), 1);
    scale_dims[0] = channels;
    t->set_data_type(onnx::TensorProto::INT8);
    set_raw(t, q.q);
    const std::string name = t->name();
    onnx::NodeProto* cast = widen(t, "Cast", ".int8");
    add_int(cast, "to", onnx::TensorProto::FLOAT);
    cast->set_output(0, fresh(name + ".float"));
    onnx::NodeProto* mul = g_.add_node();
    mul->set_op_type("Mul");
    mul->set_name(fresh("node/Mul/" + name));
    mul->add_input(cast->output(0));
    mul->add_input(add_tensor(name + ".scale", onnx::TensorProto::FLOAT, scale_dims, q.scales));
    mul->add_output(name);
    return static_cast<long long>(q.q.size() + q.scales.size() * sizeof(float));
  }

  static void add_int(onnx::NodeProto* n, const char* name, std::int64_t value) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }

  template <typename T>
  std::string add_tensor(const std::string& hint, int type, const std::vector<std::int64_t>& dims, const std::vector<T>& v) {
    onnx::TensorProto* t = g_.add_initializer();
    t->set_name(fresh(hint));
    t->set_data_type(type);
    for (std::int64_t d : dims) t->add_dims(d);
    set_raw(t, v);
    return t->name();
  }

  onnx::GraphProto& g_;
  Quantize mode_;
  std::set<std::string> used_;
};

}  // namespace

Result<QuantizedGraph> quantize_graph(const std::string& bytes, Quantize mode) {
  if (mode == Quantize::kNone) return QuantizedGraph{bytes, 0, 0, 0};
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return make_error(ErrorCode::kCorrupt, "not an ONNX model");
  QuantizedGraph out = GraphQuantizer(*model.mutable_graph(), mode).run();
  try {
    model.mutable_graph()->clear_value_info();  // inferred again below, with the widening nodes
    onnx::checker::check_model(model);
    onnx::ShapeInferenceOptions options(/*check_type_val=*/true, /*strict_mode_val=*/1, /*data_prop_val=*/true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("the quantised graph fails the ONNX checker: ") + e.what());
  }
  if (!model.SerializeToString(&out.bytes)) return make_error(ErrorCode::kInternal, "cannot serialise the quantised ONNX model");
  return out;
}

}  // namespace cellcam::explain
