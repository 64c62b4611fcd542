// spec.cpp — parse and validate the `preprocess` block (see spec.h for the schema).
#include "cellcam/spec.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace cellcam {
namespace {

using nlohmann::json;

Error spec_error(const std::string& message) { return make_error(ErrorCode::kInvalidSpec, "preprocess spec: " + message); }

template <typename Enum, std::size_t N>
bool parse_enum(const json& j, const char* key, const std::pair<const char*, Enum> (&names)[N], Enum* out, Error* error) {
  if (!j.contains(key)) return true;
  if (!j[key].is_string()) { *error = spec_error(std::string("'") + key + "' must be a string"); return false; }
  const std::string value = j[key].get<std::string>();
  std::string allowed;
  for (const auto& [name, e] : names) {
    if (value == name) { *out = e; return true; }
    allowed += allowed.empty() ? name : std::string(", ") + name;
  }
  *error = spec_error(std::string("'") + key + "' is \"" + value + "\", expected one of " + allowed);
  return false;
}

bool parse_int(const json& j, const char* key, int lo, int hi, int* out, Error* error) {
  if (!j.contains(key)) return true;
  if (!j[key].is_number_integer() || j[key].get<long long>() < lo || j[key].get<long long>() > hi) {
    *error = spec_error(std::string("'") + key + "' must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return false;
  }
  *out = j[key].get<int>();
  return true;
}

bool parse_floats(const json& j, const char* key, std::vector<float>* out, Error* error) {
  if (!j.contains(key)) return true;
  const json& v = j[key];
  std::vector<float> values;
  if (v.is_number()) {
    values.push_back(v.get<float>());
  } else if (v.is_array() && !v.empty()) {
    for (const json& x : v) {
      if (!x.is_number()) { *error = spec_error(std::string("'") + key + "' must hold numbers"); return false; }
      values.push_back(x.get<float>());
    }
  } else {
    *error = spec_error(std::string("'") + key + "' must be a number or a non-empty array of numbers");
    return false;
  }
  for (float x : values)
    if (!std::isfinite(x)) { *error = spec_error(std::string("'") + key + "' must be finite"); return false; }
  *out = values;
  return true;
}

const std::pair<const char*, ResizeFilter> kFilters[] = {{"box", ResizeFilter::kBox},
                                                         {"triangle", ResizeFilter::kTriangle},
                                                         {"cubic_bspline", ResizeFilter::kCubicBSpline},
                                                         {"catmull_rom", ResizeFilter::kCatmullRom},
                                                         {"mitchell", ResizeFilter::kMitchell}};
const std::pair<const char*, AspectMode> kAspects[] = {
    {"stretch", AspectMode::kStretch}, {"pad", AspectMode::kPad}, {"crop", AspectMode::kCrop}};
const std::pair<const char*, ColorMode> kColors[] = {{"rgb", ColorMode::kRgb}, {"gray", ColorMode::kGray}, {"hsv", ColorMode::kHsv}};

const std::pair<const char*, StainMethod> kStainMethods[] = {
    {"rgb", StainMethod::kRgb}, {"reinhard", StainMethod::kReinhard}, {"macenko", StainMethod::kMacenko}};

// Which keys each method reads; a key of another method is refused, since it would silently do nothing.
bool stain_key_allowed(const std::string& key, StainMethod m) {
  if (key == "method" || key == "foreground_above") return true;
  if (key == "target_mean" || key == "target_std") return m != StainMethod::kMacenko;
  if (key == "target_stains" || key == "target_max_conc") return m == StainMethod::kMacenko;
  return false;
}

// today's per-channel RGB targets: defaults 0.5 / 0.1, values in [0, 1].
bool parse_rgb_stain(const json& st, StainSpec* stain, Error* error) {
  if (!parse_floats(st, "target_mean", &stain->target_mean, error) ||
      !parse_floats(st, "target_std", &stain->target_std, error))
    return false;
  for (std::vector<float>* v : {&stain->target_mean, &stain->target_std}) {
    if (v->size() == 1) v->assign(3, (*v)[0]);
    if (v->size() != 3) { *error = spec_error("'stain' targets need 1 or 3 values (one per RGB channel)"); return false; }
  }
  for (std::size_t c = 0; c < 3; ++c)
    if (!(stain->target_mean[c] >= 0.0f && stain->target_mean[c] <= 1.0f) ||
        !(stain->target_std[c] > 0.0f && stain->target_std[c] <= 1.0f)) {
      *error = spec_error("'stain.target_mean' values must lie in [0, 1] and 'stain.target_std' in (0, 1]");
      return false;
    }
  return true;
}

// Reinhard's lαβ targets: required, 3 values each (lαβ of RGB in [1/255, 1] lies well within +-10).
bool parse_reinhard_stain(const json& st, StainSpec* stain, Error* error) {
  if (!st.contains("target_mean") || !st.contains("target_std")) {
    *error = spec_error("method 'reinhard' needs 'stain.target_mean' and 'stain.target_std' (lαβ, 3 values each)");
    return false;
  }
  if (!parse_floats(st, "target_mean", &stain->target_mean, error) ||
      !parse_floats(st, "target_std", &stain->target_std, error))
    return false;
  if (stain->target_mean.size() != 3 || stain->target_std.size() != 3) {
    *error = spec_error("method 'reinhard': 'stain.target_mean' and 'stain.target_std' need 3 values (l, alpha, beta)");
    return false;
  }
  for (std::size_t c = 0; c < 3; ++c)
    if (!(stain->target_mean[c] >= -10.0f && stain->target_mean[c] <= 10.0f) ||
        !(stain->target_std[c] > 0.0f && stain->target_std[c] <= 10.0f)) {
      *error = spec_error("method 'reinhard': 'stain.target_mean' values must lie in [-10, 10] and 'stain.target_std' in (0, 10]");
      return false;
    }
  return true;
}

// Macenko's targets: two non-negative, non-zero OD vectors (H first) and two positive max concentrations.
bool parse_macenko_stain(const json& st, StainSpec* stain, Error* error) {
  const char* kStainsShape = "method 'macenko': 'stain.target_stains' must be [[r, g, b], [r, g, b]] (H, then E): "
                             "finite, non-negative, each with a positive value";
  if (!st.contains("target_stains") || !st.contains("target_max_conc")) {
    *error = spec_error("method 'macenko' needs 'stain.target_stains' (2x3) and 'stain.target_max_conc' (2 values)");
    return false;
  }
  const json& m = st["target_stains"];
  stain->target_stains.clear();
  if (!m.is_array() || m.size() != 2) { *error = spec_error(kStainsShape); return false; }
  for (const json& row : m) {
    if (!row.is_array() || row.size() != 3) { *error = spec_error(kStainsShape); return false; }
    float largest = 0.0f;
    for (const json& x : row) {
      const float v = x.is_number() ? x.get<float>() : -1.0f;
      if (!std::isfinite(v) || v < 0.0f) { *error = spec_error(kStainsShape); return false; }
      largest = v > largest ? v : largest;
      stain->target_stains.push_back(v);
    }
    if (!(largest > 0.0f)) { *error = spec_error(kStainsShape); return false; }
  }
  if (!parse_floats(st, "target_max_conc", &stain->target_max_conc, error)) return false;
  if (stain->target_max_conc.size() != 2 || !(stain->target_max_conc[0] > 0.0f) || !(stain->target_max_conc[1] > 0.0f) ||
      stain->target_max_conc[0] > 100.0f || stain->target_max_conc[1] > 100.0f) {
    *error = spec_error("method 'macenko': 'stain.target_max_conc' must be 2 values in (0, 100] (H, then E)");
    return false;
  }
  stain->target_mean.clear();
  stain->target_std.clear();
  return true;
}

bool parse_stain(const json& st, StainSpec* stain, Error* error) {
  stain->enabled = true;
  if (!parse_enum(st, "method", kStainMethods, &stain->method, error)) return false;
  for (const auto& item : st.items()) {
    if (stain_key_allowed(item.key(), StainMethod::kRgb) || stain_key_allowed(item.key(), StainMethod::kMacenko)) {
      if (stain_key_allowed(item.key(), stain->method)) continue;
      *error = spec_error("'stain." + item.key() + "' does not apply to method '" + stain_method_name(stain->method) + "'");
    } else {
      *error = spec_error("unknown key 'stain." + item.key() + "'");
    }
    return false;
  }
  const bool ok = stain->method == StainMethod::kRgb        ? parse_rgb_stain(st, stain, error)
                  : stain->method == StainMethod::kReinhard ? parse_reinhard_stain(st, stain, error)
                                                            : parse_macenko_stain(st, stain, error);
  if (!ok) return false;
  if (st.contains("foreground_above")) {
    if (!st["foreground_above"].is_number() || st["foreground_above"].get<double>() < 0 ||
        st["foreground_above"].get<double>() >= 1) {
      *error = spec_error("'stain.foreground_above' must be a number in [0, 1)");
      return false;
    }
    stain->foreground_above = st["foreground_above"].get<float>();
  }
  return true;
}

Result<PreprocessSpec> parse_block(const json& j) {
  if (!j.is_object()) return spec_error("the preprocess block must be a JSON object");
  static const char* kKeys[] = {"width", "height", "resize_filter", "aspect", "pad_value", "color", "mean", "std", "blur", "stain"};
  for (const auto& item : j.items()) {
    bool known = false;
    for (const char* k : kKeys) known = known || item.key() == k;
    if (!known) return spec_error("unknown key '" + item.key() + "'");
  }
  PreprocessSpec spec;
  Error error;
  if (!parse_int(j, "width", 1, 4096, &spec.width, &error) || !parse_int(j, "height", 1, 4096, &spec.height, &error) ||
      !parse_enum(j, "resize_filter", kFilters, &spec.filter, &error) ||
      !parse_enum(j, "aspect", kAspects, &spec.aspect, &error) || !parse_enum(j, "color", kColors, &spec.color, &error))
    return error;
  if (j.contains("pad_value")) {
    if (!j["pad_value"].is_number() || j["pad_value"].get<double>() < 0 || j["pad_value"].get<double>() > 1)
      return spec_error("'pad_value' must be a number in [0, 1]");
    spec.pad_value = j["pad_value"].get<float>();
  }
  const std::size_t channels = static_cast<std::size_t>(spec.channels());
  spec.mean.assign(channels, 0.0f);
  spec.std.assign(channels, 1.0f);
  if (!parse_floats(j, "mean", &spec.mean, &error) || !parse_floats(j, "std", &spec.std, &error)) return error;
  for (std::vector<float>* v : {&spec.mean, &spec.std}) {
    if (v->size() == 1) v->assign(channels, (*v)[0]);
    if (v->size() != channels)
      return spec_error(std::string(v == &spec.mean ? "'mean'" : "'std'") + " has " + std::to_string(v->size()) +
                        " values, colour mode " + color_mode_name(spec.color) + " has " + std::to_string(channels) + " channels");
  }
  for (float s : spec.std)
    if (!(s > 0.0f)) return spec_error("'std' values must be positive");
  if (j.contains("blur") && !j["blur"].is_null()) {
    const json& b = j["blur"];
    if (!b.is_object()) return spec_error("'blur' must be null or an object {\"kernel\": 5, \"sigma\": 0}");
    for (const auto& item : b.items())
      if (item.key() != "kernel" && item.key() != "sigma") return spec_error("unknown key 'blur." + item.key() + "'");
    spec.blur.kernel = 5;
    if (!parse_int(b, "kernel", 3, 31, &spec.blur.kernel, &error)) return error;
    if (spec.blur.kernel % 2 == 0) return spec_error("'blur.kernel' must be odd");
    if (b.contains("sigma")) {
      if (!b["sigma"].is_number() || b["sigma"].get<double>() < 0 || b["sigma"].get<double>() > 100)
        return spec_error("'blur.sigma' must be a number from 0 to 100");
      spec.blur.sigma = b["sigma"].get<double>();
    }
  }
  if (j.contains("stain") && !j["stain"].is_null()) {
    const json& st = j["stain"];
    if (!st.is_object())
      return spec_error("'stain' must be null or an object {\"target_mean\": [..], \"target_std\": [..], \"foreground_above\": 0.1}");
    if (!parse_stain(st, &spec.stain, &error)) return error;
  }
  return spec;
}

}  // namespace

const char* resize_filter_name(ResizeFilter f) {
  for (const auto& [name, e] : kFilters)
    if (e == f) return name;
  return "?";
}
const char* aspect_mode_name(AspectMode a) {
  for (const auto& [name, e] : kAspects)
    if (e == a) return name;
  return "?";
}
const char* color_mode_name(ColorMode c) {
  for (const auto& [name, e] : kColors)
    if (e == c) return name;
  return "?";
}
const char* stain_method_name(StainMethod m) {
  for (const auto& [name, e] : kStainMethods)
    if (e == m) return name;
  return "?";
}

Result<PreprocessSpec> parse_preprocess_spec(const std::string& json_text) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(ErrorCode::kInvalidSpec, "spec is not valid JSON");
  try {
    if (j.is_object() && j.contains("preprocess")) return parse_block(j["preprocess"]);
    return parse_block(j);
  } catch (const json::exception& e) {
    return spec_error(e.what());
  }
}

namespace {

// "rgb" is written without a "method" key, exactly as before the key existed.
json stain_to_json(const StainSpec& stain) {
  switch (stain.method) {
    case StainMethod::kRgb:
      return json{{"target_mean", stain.target_mean}, {"target_std", stain.target_std}, {"foreground_above", stain.foreground_above}};
    case StainMethod::kReinhard:
      return json{{"method", "reinhard"}, {"target_mean", stain.target_mean}, {"target_std", stain.target_std},
                  {"foreground_above", stain.foreground_above}};
    case StainMethod::kMacenko: {
      json rows = json::array();
      for (std::size_t s = 0; s + 2 < stain.target_stains.size(); s += 3)
        rows.push_back(std::vector<float>(stain.target_stains.begin() + s, stain.target_stains.begin() + s + 3));
      return json{{"method", "macenko"}, {"target_stains", rows}, {"target_max_conc", stain.target_max_conc},
                  {"foreground_above", stain.foreground_above}};
    }
  }
  return nullptr;
}

}  // namespace

std::string preprocess_spec_to_json(const PreprocessSpec& spec) {
  json j;
  j["width"] = spec.width;
  j["height"] = spec.height;
  j["resize_filter"] = resize_filter_name(spec.filter);
  j["aspect"] = aspect_mode_name(spec.aspect);
  j["pad_value"] = spec.pad_value;
  j["color"] = color_mode_name(spec.color);
  j["mean"] = spec.mean;
  j["std"] = spec.std;
  if (spec.blur.kernel > 0)
    j["blur"] = json{{"kernel", spec.blur.kernel}, {"sigma", spec.blur.sigma}};
  else
    j["blur"] = nullptr;
  j["stain"] = spec.stain.enabled ? stain_to_json(spec.stain) : json(nullptr);
  return j.dump(2);
}

}  // namespace cellcam
