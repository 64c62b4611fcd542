// export_onnx.cpp — see export_onnx.h.
//
// Forward: one ONNX node (or a few) per spec layer, reading the weights from the torch module of the
// same name ("features.3.weight"). Backward: for the layers after the CAM target, in reverse, the
// vector-Jacobian product of each one, as LibTorch's autograd computes it:
//   conv        ConvTranspose with the same (folded) weights        G (C,N,O,h,w) -> (C,N,I,H,W)
//   batch norm  G * gamma / sqrt(var + eps)
//   relu        G * (y > 0)             leaky relu  G * (x > 0 ? 1 : slope)
//   sigmoid     G * y (1 - y)           swish (y = x s, s = sigmoid(x))  G * (s + y (1 - s))
//   max pool    MaxUnpool with MaxPool's indices (offset per class copy)
//   avg pool    depthwise ConvTranspose with 1/k^2 kernels
//   gap         G / (H*W) broadcast over (H,W)   flatten  a reshape   dense  G @ W   dropout  identity
//   SE          G * s + bcast(W1^T relu'(u) W2^T (s (1 - s) sum_hw(G * x)) / (H*W))
//   residual    relu' then body + shortcut
// The gradient carries the classes in front: (C,N,...) — the seed is the head's weight row per class
// (binary: -w for the negative class, +w for the positive), expanded over the batch.
#include "export_onnx.h"

#include <cmath>
#include <map>

#include "cam_layer.h"
#include "cellcam/version.h"
#include "onnx_graph.h"

namespace cellcam::explain {
namespace {

using Dims = std::vector<std::int64_t>;

std::vector<float> values(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

Dims dims_of(const torch::Tensor& t) { return Dims(t.sizes().begin(), t.sizes().end()); }

// What the backward pass needs to know about one forward step.
struct Step {
  const Layer* layer = nullptr;
  int first = -1, last = -1;              // top-level indices this step covers (conv + folded BN: two)
  std::string in, out;
  std::vector<int> in_shape, out_shape;   // without the batch dimension
  std::string weight;                      // conv/dense (conv: after folding)
  std::string scale;                       // batch norm: gamma / sqrt(var + eps), broadcastable
  std::string indices;                     // max pool
  std::string se_u, se_s, se_s4;           // squeeze-excite: pre-relu hidden (N,R), gate (N,K), gate (N,K,1,1)
  std::string se_w1, se_w2;                // squeeze-excite: the reduce (R,K) and expand (K,R) weights
  std::string sigmoid;                     // swish: sigmoid(x)
  std::vector<Step> body, shortcut;        // residual
};

class Exporter {
 public:
  Exporter(GraphBuilder& g, native::Network& net, int classes, int target)
      : g_(g), classes_(classes), target_(target) {
    for (const auto& p : net->named_parameters()) params_[p.key()] = p.value().detach();
    for (const auto& b : net->named_buffers()) params_[b.key()] = b.value().detach();
  }

  // Emits `layers` from tensor `x` of shape `shape` (updated). `top` = these are the top-level
  // features (indices count toward the CAM target); `backward` = record what the VJP needs.
  std::string forward(const std::vector<Layer>& layers, std::string x, std::vector<int>& shape, std::vector<Step>& tape,
                      bool top, int parent_index) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const Layer& l = layers[i];
      Step s;
      s.layer = &l;
      s.first = s.last = top ? static_cast<int>(i) : parent_index;
      s.in = x;
      s.in_shape = shape;
      const bool backward = s.first > target_;
      switch (l.kind) {
        case LayerKind::kConv: {
          torch::Tensor w = param(l.name + ".weight").to(torch::kDouble);
          torch::Tensor b = l.bias ? param(l.name + ".bias").to(torch::kDouble) : torch::zeros({l.out}, torch::kDouble);
          // Fold a following batch norm, unless this convolution's own output is the CAM target.
          const bool fold = i + 1 < layers.size() && layers[i + 1].kind == LayerKind::kBatchNorm && !(top && s.first == target_);
          if (fold) {
            const std::string bn = layers[i + 1].name;
            const torch::Tensor scale = batch_norm_affine(bn).first;
            w = w * scale.view({-1, 1, 1, 1});
            b = (b - param(bn + ".running_mean").to(torch::kDouble)) * scale + param(bn + ".bias").to(torch::kDouble);
            if (top) s.last = static_cast<int>(i) + 1;
            ++i;
          }
          s.weight = g_.constant(l.name + ".weight", dims_of(w), values(w));
          const std::string bias = g_.constant(l.name + ".bias", dims_of(b), values(b));
          x = g_.node("Conv", {x, s.weight, bias},
                      {Attr::Ints("kernel_shape", {l.kernel, l.kernel}), Attr::Ints("strides", {l.stride, l.stride}),
                       Attr::Ints("pads", {l.padding, l.padding, l.padding, l.padding})},
                      l.name);
          shape = {l.out, (shape[1] + 2 * l.padding - l.kernel) / l.stride + 1, (shape[2] + 2 * l.padding - l.kernel) / l.stride + 1};
          break;
        }
        case LayerKind::kBatchNorm: {
          const auto [scale, shift] = batch_norm_affine(l.name);
          const Dims d = shape.size() == 3 ? Dims{shape[0], 1, 1} : Dims{shape[0]};
          s.scale = g_.constant(l.name + ".scale", d, values(scale));
          const std::string shift_name = g_.constant(l.name + ".shift", d, values(shift));
          x = g_.node("Add", {g_.node("Mul", {x, s.scale}, {}, l.name + ".mul"), shift_name}, {}, l.name);
          break;
        }
        case LayerKind::kRelu: x = g_.node("Relu", {x}, {}, l.name); break;
        case LayerKind::kLeakyRelu: x = g_.node("LeakyRelu", {x}, {Attr::Float("alpha", l.slope)}, l.name); break;
        case LayerKind::kSigmoid: x = g_.node("Sigmoid", {x}, {}, l.name); break;
        case LayerKind::kSwish:
          s.sigmoid = g_.node("Sigmoid", {x}, {}, l.name + ".sigmoid");
          x = g_.node("Mul", {x, s.sigmoid}, {}, l.name);
          break;
        case LayerKind::kMaxPool: {
          const std::vector<Attr> attrs = {Attr::Ints("kernel_shape", {l.kernel, l.kernel}), Attr::Ints("strides", {l.stride, l.stride})};
          if (backward) {
            const std::vector<std::string> outs = g_.node_multi("MaxPool", {x}, 2, attrs, l.name);
            x = outs[0];
            s.indices = outs[1];
          } else {
            x = g_.node("MaxPool", {x}, attrs, l.name);
          }
          shape = {shape[0], (shape[1] - l.kernel) / l.stride + 1, (shape[2] - l.kernel) / l.stride + 1};
          break;
        }
        case LayerKind::kAvgPool:
          x = g_.node("AveragePool", {x}, {Attr::Ints("kernel_shape", {l.kernel, l.kernel}), Attr::Ints("strides", {l.stride, l.stride})},
                      l.name);
          shape = {shape[0], (shape[1] - l.kernel) / l.stride + 1, (shape[2] - l.kernel) / l.stride + 1};
          break;
        case LayerKind::kGlobalAvgPool:
          x = g_.node("ReduceMean", {x}, {Attr::Ints("axes", {2, 3}), Attr::Int("keepdims", 0)}, l.name);
          shape = {shape[0]};
          break;
        case LayerKind::kFlatten:
          x = g_.node("Flatten", {x}, {Attr::Int("axis", 1)}, l.name);
          shape = {shape.size() == 3 ? shape[0] * shape[1] * shape[2] : shape[0]};
          break;
        case LayerKind::kDense: {
          s.weight = weight(l.name + ".weight");
          std::vector<std::string> inputs = {x, s.weight};
          if (l.bias) inputs.push_back(weight(l.name + ".bias"));
          x = g_.node("Gemm", inputs, {Attr::Int("transB", 1)}, l.name);
          shape = {l.out};
          break;
        }
        case LayerKind::kDropout: break;  // inference: the identity
        case LayerKind::kSqueezeExcite: {
          const int k = shape[0];
          const std::string z = g_.node("ReduceMean", {x}, {Attr::Ints("axes", {2, 3}), Attr::Int("keepdims", 0)}, l.name + ".squeeze");
          s.se_u = gemm(z, l.name + ".reduce", &s.se_w1);
          const std::string r = g_.node("Relu", {s.se_u}, {}, l.name + ".relu");
          s.se_s = g_.node("Sigmoid", {gemm(r, l.name + ".expand", &s.se_w2)}, {}, l.name + ".gate");
          s.se_s4 = g_.node("Reshape", {s.se_s, g_.constant_ints("shape", {-1, k, 1, 1})}, {}, l.name + ".gate4");
          x = g_.node("Mul", {x, s.se_s4}, {}, l.name);
          break;
        }
        case LayerKind::kResidual: {
          std::vector<int> body_shape = shape, shortcut_shape = shape;
          const std::string body = forward(l.body, x, body_shape, s.body, false, s.first);
          const std::string shortcut = l.shortcut.empty() ? x : forward(l.shortcut, x, shortcut_shape, s.shortcut, false, s.first);
          x = g_.node("Relu", {g_.node("Add", {body, shortcut}, {}, l.name + ".add")}, {}, l.name);
          shape = body_shape;
          break;
        }
      }
      s.out = x;
      s.out_shape = shape;
      if (top && s.last == target_) activation_ = x;
      tape.push_back(std::move(s));
    }
    return x;
  }

  // dL/d(input of `tape`) from dL/d(output), for the top-level steps after the target (or all nested ones).
  std::string backward(const std::vector<Step>& tape, std::string G) {
    for (auto it = tape.rbegin(); it != tape.rend(); ++it) {
      if (it->first <= target_) break;
      G = vjp(*it, G);
    }
    return G;
  }

  // The class-score gradient at the head's input (C,N,F): seed rows of the head weight, over the batch.
  std::string seed(const std::string& features, int feature_count, bool binary) {
    const torch::Tensor w = param("head.weight");  // (outputs, F)
    std::vector<float> rows(static_cast<std::size_t>(classes_) * feature_count);
    const std::vector<float> wv = values(w);
    for (int c = 0; c < classes_; ++c)
      for (int f = 0; f < feature_count; ++f)
        rows[static_cast<std::size_t>(c) * feature_count + f] =
            binary ? (c == 1 ? wv[f] : -wv[f]) : wv[static_cast<std::size_t>(c) * feature_count + f];
    const std::string g0 = g_.constant("grad_seed", {classes_, 1, feature_count}, rows);
    const std::string shape =
        g_.node("Concat", {g_.constant_ints("classes", {classes_}), g_.node("Shape", {features}, {}, "features_shape")},
                {Attr::Int("axis", 0)}, "grad_shape");
    return g_.node("Expand", {g0, shape}, {}, "grad_head");
  }

  const std::string& activation() const { return activation_; }

  static constexpr double kBatchNormEps = 1e-5;  // torch::nn::BatchNorm default, which the trainer uses

 private:
  torch::Tensor param(const std::string& name) const {
    auto it = params_.find(name);
    if (it == params_.end()) throw std::runtime_error("the network has no tensor " + name);
    return it->second;
  }

  // An initialiser holding the module tensor of the same name.
  std::string weight(const std::string& name) {
    const torch::Tensor t = param(name);
    return g_.constant(name, dims_of(t), values(t));
  }

  // x W^T + b with `module`'s weights; the weight's initialiser name goes to *weight_name (the VJP reuses it).
  std::string gemm(const std::string& x, const std::string& module, std::string* weight_name) {
    *weight_name = weight(module + ".weight");
    return g_.node("Gemm", {x, *weight_name, weight(module + ".bias")}, {Attr::Int("transB", 1)}, module);
  }

  // Eval-mode batch norm as y = x * scale + shift, in double precision: scale = gamma / sqrt(var + eps).
  std::pair<torch::Tensor, torch::Tensor> batch_norm_affine(const std::string& bn) const {
    const torch::Tensor scale = param(bn + ".weight").to(torch::kDouble) /
                                torch::sqrt(param(bn + ".running_var").to(torch::kDouble) + kBatchNormEps);
    return {scale, param(bn + ".bias").to(torch::kDouble) - param(bn + ".running_mean").to(torch::kDouble) * scale};
  }

  std::string ints(const std::vector<std::int64_t>& v) { return g_.constant_ints("shape", v); }
  std::string to4d(const std::string& G, const std::vector<int>& s) { return g_.node("Reshape", {G, ints({-1, s[0], s[1], s[2]})}, {}, "grad4"); }
  std::string to5d(const std::string& G, const std::vector<int>& s) {
    return g_.node("Reshape", {G, ints({classes_, -1, s[0], s[1], s[2]})}, {}, "grad5");
  }
  std::string positive_mask(const std::string& t) {
    return g_.node("Cast", {g_.node("Greater", {t, g_.scalar("zero", 0.0f)}, {}, "positive")}, {Attr::Int("to", 1)}, "mask");
  }

  std::string vjp(const Step& s, const std::string& G) {
    const Layer& l = *s.layer;
    const std::string name = "grad/" + l.name;
    switch (l.kind) {
      case LayerKind::kConv: {
        const int out_pad_h = s.in_shape[1] - ((s.out_shape[1] - 1) * l.stride - 2 * l.padding + l.kernel);
        const int out_pad_w = s.in_shape[2] - ((s.out_shape[2] - 1) * l.stride - 2 * l.padding + l.kernel);
        const std::string t = g_.node("ConvTranspose", {to4d(G, s.out_shape), s.weight},
                                      {Attr::Ints("kernel_shape", {l.kernel, l.kernel}), Attr::Ints("strides", {l.stride, l.stride}),
                                       Attr::Ints("pads", {l.padding, l.padding, l.padding, l.padding}),
                                       Attr::Ints("output_padding", {out_pad_h, out_pad_w})},
                                      name);
        return to5d(t, s.in_shape);
      }
      case LayerKind::kBatchNorm: return g_.node("Mul", {G, s.scale}, {}, name);
      case LayerKind::kRelu: return g_.node("Mul", {G, positive_mask(s.out)}, {}, name);
      case LayerKind::kLeakyRelu: {
        const std::string positive = g_.node("Greater", {s.in, g_.scalar("zero", 0.0f)}, {}, "positive");
        return g_.node("Where", {positive, G, g_.node("Mul", {G, g_.scalar("slope", l.slope)}, {}, "leaky")}, {}, name);
      }
      case LayerKind::kSigmoid: {
        const std::string one_minus = g_.node("Sub", {g_.scalar("one", 1.0f), s.out}, {}, "sigmoid_1my");
        return g_.node("Mul", {G, g_.node("Mul", {s.out, one_minus}, {}, "sigmoid_dy")}, {}, name);
      }
      case LayerKind::kSwish: {
        const std::string one_minus = g_.node("Sub", {g_.scalar("one", 1.0f), s.sigmoid}, {}, "swish_1ms");
        const std::string slope = g_.node("Add", {s.sigmoid, g_.node("Mul", {s.out, one_minus}, {}, "swish_y1ms")}, {}, "swish_dy");
        return g_.node("Mul", {G, slope}, {}, name);
      }
      case LayerKind::kMaxPool: {
        // MaxPool's indices address the whole (N,K,H,W) input; copy c of the batch sits c*N*K*H*W further.
        const std::string in_shape = g_.node("Shape", {s.in}, {}, "pool_in_shape");                      // [N,K,H,W]
        const std::string numel = g_.node("ReduceProd", {in_shape}, {Attr::Int("keepdims", 1)}, "pool_in_numel");
        std::vector<std::int64_t> copies(classes_);
        for (int c = 0; c < classes_; ++c) copies[c] = c;
        const std::string offsets = g_.node("Mul", {g_.node("Reshape", {g_.constant_ints("copies", copies), ints({classes_, 1, 1, 1, 1})}, {}, "copies5"), numel}, {}, "offsets");
        const std::string indices = g_.node("Reshape", {g_.node("Add", {s.indices, offsets}, {}, "indices5"), ints({-1, s.out_shape[0], s.out_shape[1], s.out_shape[2]})}, {}, "indices4");
        const std::string out_shape = g_.node("Mul", {in_shape, g_.constant_ints("classes_first", {classes_, 1, 1, 1})}, {}, "unpool_shape");
        const std::string t = g_.node("MaxUnpool", {to4d(G, s.out_shape), indices, out_shape},
                                      {Attr::Ints("kernel_shape", {l.kernel, l.kernel}), Attr::Ints("strides", {l.stride, l.stride})}, name);
        return to5d(t, s.in_shape);
      }
      case LayerKind::kAvgPool: {
        const int k = s.in_shape[0];
        const std::vector<float> kernel(static_cast<std::size_t>(k) * l.kernel * l.kernel, 1.0f / static_cast<float>(l.kernel * l.kernel));
        const std::string w = g_.constant("avg_kernel", {k, 1, l.kernel, l.kernel}, kernel);
        const int out_pad_h = s.in_shape[1] - ((s.out_shape[1] - 1) * l.stride + l.kernel);
        const int out_pad_w = s.in_shape[2] - ((s.out_shape[2] - 1) * l.stride + l.kernel);
        const std::string t = g_.node("ConvTranspose", {to4d(G, s.out_shape), w},
                                      {Attr::Ints("kernel_shape", {l.kernel, l.kernel}), Attr::Ints("strides", {l.stride, l.stride}),
                                       Attr::Int("group", k), Attr::Ints("output_padding", {out_pad_h, out_pad_w})},
                                      name);
        return to5d(t, s.in_shape);
      }
      case LayerKind::kGlobalAvgPool: {
        const std::vector<int>& in = s.in_shape;
        const std::string g5 = g_.node("Reshape", {G, ints({classes_, -1, in[0], 1, 1})}, {}, "grad5");
        const std::string mean = g_.node("Div", {g5, g_.scalar("area", static_cast<float>(in[1] * in[2]))}, {}, "grad_mean");
        return g_.node("Expand", {mean, ints({1, 1, 1, in[1], in[2]})}, {}, name);
      }
      case LayerKind::kFlatten:
        return s.in_shape.size() == 3 ? to5d(G, s.in_shape) : G;
      case LayerKind::kDense: return g_.node("MatMul", {G, s.weight}, {}, name);
      case LayerKind::kDropout: return G;
      case LayerKind::kSqueezeExcite: {
        const std::vector<int>& in = s.in_shape;
        const std::string through_x = g_.node("Mul", {G, s.se_s4}, {}, "se_dx");
        const std::string g_gate = g_.node("ReduceSum", {g_.node("Mul", {G, s.in}, {}, "se_gx"), ints({3, 4})}, {Attr::Int("keepdims", 0)}, "se_dgate");  // (C,N,K)
        const std::string dsig = g_.node("Mul", {s.se_s, g_.node("Sub", {g_.scalar("one", 1.0f), s.se_s}, {}, "se_1ms")}, {}, "se_dsig");
        const std::string g_v = g_.node("Mul", {g_gate, dsig}, {}, "se_dv");
        const std::string g_r = g_.node("MatMul", {g_v, s.se_w2}, {}, "se_dr");  // (C,N,R)
        const std::string g_u = g_.node("Mul", {g_r, positive_mask(s.se_u)}, {}, "se_du");
        const std::string g_z = g_.node("MatMul", {g_u, s.se_w1}, {}, "se_dz");  // (C,N,K)
        const std::string g_z5 = g_.node("Reshape", {g_z, ints({classes_, -1, in[0], 1, 1})}, {}, "se_dz5");
        const std::string spread = g_.node("Div", {g_z5, g_.scalar("area", static_cast<float>(in[1] * in[2]))}, {}, "se_dmean");
        return g_.node("Add", {through_x, spread}, {}, name);
      }
      case LayerKind::kResidual: {
        const std::string gs = g_.node("Mul", {G, positive_mask(s.out)}, {}, "grad_sum");
        const std::string body = backward(s.body, gs);
        const std::string shortcut = l.shortcut.empty() ? gs : backward(s.shortcut, gs);
        return g_.node("Add", {body, shortcut}, {}, name);
      }
    }
    return G;
  }

  GraphBuilder& g_;
  int classes_;
  int target_;
  std::map<std::string, torch::Tensor> params_;
  std::string activation_;
};

}  // namespace

Result<OnnxExport> export_onnx(native::Network& net, const std::string& cam_layer, const std::string& doc, double temperature) {
  const ModelSpec& spec = net->spec();
  Result<CamTarget> target = resolve_cam_layer(spec, cam_layer);
  if (!target) return target.error();
  const CamTarget& t = target.value();
  const int classes = static_cast<int>(spec.classes.size());
  const bool binary = spec.head == HeadKind::kBinary;
  const int in_c = spec.preprocess.channels(), in_h = spec.preprocess.height, in_w = spec.preprocess.width;

  OnnxExport out;
  try {
    torch::NoGradGuard no_grad;
    GraphBuilder g;
    g.add_input("input", {-1, in_c, in_h, in_w});
    Exporter ex(g, net, classes, t.index);
    std::vector<int> shape = {in_c, in_h, in_w};
    std::vector<Step> tape;
    const std::string features = ex.forward(spec.layers, "input", shape, tape, /*top=*/true, -1);
    if (shape.size() != 1) return make_error(ErrorCode::kInvalidSpec, "the layers must end in a vector");
    // ---- head and probabilities
    const torch::Tensor hw = net->named_parameters()["head.weight"], hb = net->named_parameters()["head.bias"];
    const std::string logits = g.node("Gemm", {features, g.constant("head.weight", dims_of(hw), values(hw)),
                                               g.constant("head.bias", dims_of(hb), values(hb))},
                                      {Attr::Int("transB", 1)}, "head");
    // Temperature scaling divides the logits on the way to the probabilities only: `logits` and the CAM
    // (the raw class scores' gradients) are unchanged, and so are the decisions.
    if (!(temperature > 0.0)) return make_error(ErrorCode::kInvalidArgument, "temperature must be positive");
    const std::string scaled =
        temperature == 1.0 ? logits : g.node("Div", {logits, g.scalar("temperature", static_cast<float>(temperature))}, {}, "scaled_logits");
    std::string probs;
    if (binary) {
      const std::string p = g.node("Sigmoid", {scaled}, {}, "p_positive");
      probs = g.node("Concat", {g.node("Sub", {g.scalar("one", 1.0f), p}, {}, "p_negative"), p}, {Attr::Int("axis", 1)}, "probs_binary");
    } else {
      probs = g.node("Softmax", {scaled}, {Attr::Int("axis", 1)}, "softmax");
    }
    // ---- Grad-CAM: the class-score gradient back to the target, then the two maps
    const std::string grad = ex.backward(tape, ex.seed(features, shape[0], binary));  // (C,N,K,h,w)
    const std::string& a = ex.activation();                                           // (N,K,h,w)
    const std::string weights = g.node("ReduceMean", {grad}, {Attr::Ints("axes", {3, 4}), Attr::Int("keepdims", 1)}, "cam_weights");
    const std::string channel_axis = g.constant_ints("axes", {2});
    auto cam_map = [&](const std::string& factor, const std::string& hint) {
      const std::string sum = g.node("ReduceSum", {g.node("Mul", {factor, a}, {}, hint + "_terms"), channel_axis}, {Attr::Int("keepdims", 0)}, hint + "_sum");
      return g.node("Transpose", {g.node("Relu", {sum}, {}, hint + "_relu")}, {Attr::Ints("perm", {1, 0, 2, 3})}, hint + "_nchw");
    };
    g.rename_output(logits, "logits");
    g.rename_output(probs, "probs");
    g.rename_output(cam_map(weights, "gradcam"), "cam");
    g.rename_output(cam_map(grad, "hirescam"), "hirescam");
    g.add_output("logits", {-1, spec.outputs()});
    g.add_output("probs", {-1, classes});
    g.add_output("cam", {-1, classes, t.height, t.width});
    g.add_output("hirescam", {-1, classes, t.height, t.width});
    out.nodes = g.node_count();
    Result<std::string> bytes = g.finish(version_string(), doc);
    if (!bytes) return bytes.error();
    out.bytes = bytes.take();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("export failed: ") + e.what());
  }
  out.cam_layer = t.layer;
  out.cam_channels = t.channels;
  out.cam_height = t.height;
  out.cam_width = t.width;
  return out;
}

}  // namespace cellcam::explain
