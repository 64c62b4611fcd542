// search_space.cpp — parse and validate SPACE.json; map values to the unit interval (see search_space.h).
#include "search_space.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cellcam::tune {
namespace {

using nlohmann::json;

Error space_error(const std::string& what) { return {ErrorCode::kInvalidSpec, "search space: " + what}; }

// Sampled reals keep 4 significant digits: the trial's command line, its record and the best config then
// say the same number, and a reader sees 0.001234, not 0.0012339876543.
double round_significant(double v) {
  if (v == 0.0 || !std::isfinite(v)) return v;
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return std::strtod(text, nullptr);
}

Result<Param> parse_range(const std::string& name, ParamKind kind, const json& range) {
  const std::string kind_name = param_kind_name(kind);
  if (!range.is_array() || range.size() != 2 || !range[0].is_number() || !range[1].is_number())
    return space_error("\"" + name + "\": " + kind_name + " needs [low, high], two numbers");
  Param p;
  p.name = name;
  p.kind = kind;
  p.low = range[0].get<double>();
  p.high = range[1].get<double>();
  if (!std::isfinite(p.low) || !std::isfinite(p.high) || !(p.low < p.high))
    return space_error("\"" + name + "\": " + kind_name + " needs low < high (got [" + range[0].dump() + ", " + range[1].dump() + "])");
  if (kind == ParamKind::kLogUniform && p.low <= 0.0)
    return space_error("\"" + name + "\": log_uniform needs low > 0 (got " + range[0].dump() + ")");
  if (kind == ParamKind::kIntUniform && (p.low != std::floor(p.low) || p.high != std::floor(p.high)))
    return space_error("\"" + name + "\": int_uniform needs whole numbers");
  return p;
}

Result<Param> parse_param(const std::string& name, const json& v) {
  if (name.empty() || name[0] == '-')
    return space_error("key \"" + name + "\": write train's option without dashes, e.g. \"lr\"");
  if (!v.is_object()) {
    if (!v.is_number() && !v.is_string() && !v.is_boolean())
      return space_error("\"" + name + "\": a fixed value must be a number, a string or true/false");
    return Param{name, ParamKind::kFixed, 0.0, 0.0, {v}};
  }
  if (v.size() != 1)
    return space_error("\"" + name + "\": give one of uniform, log_uniform, int_uniform, choice (got " + v.dump() + ")");
  const auto& [key, arg] = *v.items().begin();
  if (key == "uniform") return parse_range(name, ParamKind::kUniform, arg);
  if (key == "log_uniform") return parse_range(name, ParamKind::kLogUniform, arg);
  if (key == "int_uniform") return parse_range(name, ParamKind::kIntUniform, arg);
  if (key != "choice")
    return space_error("\"" + name + "\": unknown distribution \"" + key + "\" (uniform, log_uniform, int_uniform, choice)");
  if (!arg.is_array() || arg.empty()) return space_error("\"" + name + "\": choice needs a non-empty list");
  Param p{name, ParamKind::kChoice, 0.0, 0.0, {}};
  for (const json& c : arg) {
    if (!c.is_number() && !c.is_string() && !c.is_boolean())
      return space_error("\"" + name + "\": choices must be numbers, strings or true/false (got " + c.dump() + ")");
    if (std::find(p.choices.begin(), p.choices.end(), c) != p.choices.end())
      return space_error("\"" + name + "\": choice " + c.dump() + " is listed twice");
    p.choices.push_back(c);
  }
  return p;
}

}  // namespace

const char* param_kind_name(ParamKind kind) {
  switch (kind) {
    case ParamKind::kUniform: return "uniform";
    case ParamKind::kLogUniform: return "log_uniform";
    case ParamKind::kIntUniform: return "int_uniform";
    case ParamKind::kChoice: return "choice";
    case ParamKind::kFixed: return "fixed";
  }
  return "?";
}

std::vector<const Param*> SearchSpace::searched() const {
  std::vector<const Param*> out;
  for (const Param& p : params)
    if (p.kind != ParamKind::kFixed) out.push_back(&p);
  return out;
}

Result<SearchSpace> parse_search_space(const std::string& json_text) {
  // ordered_json keeps the file's key order, which the report's columns and the samplers' draws follow.
  const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return space_error("not valid JSON");
  if (!doc.is_object() || doc.empty())
    return space_error("must be a JSON object of train options, e.g. {\"lr\": {\"log_uniform\": [1e-4, 1e-2]}}");
  SearchSpace space;
  for (const auto& [name, v] : doc.items()) {
    if (name == "out" || name == "resume" || name == "data" || name == "config")
      return space_error("\"" + name + "\" is set by tune itself for each trial");
    Result<Param> p = parse_param(name, json(v));
    if (!p) return p.error();
    space.params.push_back(p.take());
  }
  if (space.searched().empty()) return space_error("nothing to search: every value is fixed");
  return space;
}

std::vector<nlohmann::json> edge_values(const Param& p) {
  switch (p.kind) {
    case ParamKind::kUniform:
    case ParamKind::kLogUniform: return {p.low, p.high};
    case ParamKind::kIntUniform: return {static_cast<long long>(p.low), static_cast<long long>(p.high)};
    default: return p.choices;
  }
}

double to_unit(const Param& p, const nlohmann::json& value) {
  switch (p.kind) {
    case ParamKind::kUniform:
    case ParamKind::kIntUniform: return (value.get<double>() - p.low) / (p.high - p.low);
    case ParamKind::kLogUniform: return std::log(value.get<double>() / p.low) / std::log(p.high / p.low);
    case ParamKind::kChoice: {
      const auto it = std::find(p.choices.begin(), p.choices.end(), value);
      const double index = it == p.choices.end() ? 0.0 : static_cast<double>(it - p.choices.begin());
      return (index + 0.5) / static_cast<double>(p.choices.size());
    }
    case ParamKind::kFixed: return 0.5;
  }
  return 0.5;
}

nlohmann::json from_unit(const Param& p, double u) {
  u = std::clamp(u, 0.0, 1.0);
  switch (p.kind) {
    case ParamKind::kUniform: return std::clamp(round_significant(p.low + u * (p.high - p.low)), p.low, p.high);
    case ParamKind::kLogUniform: return std::clamp(round_significant(p.low * std::pow(p.high / p.low, u)), p.low, p.high);
    case ParamKind::kIntUniform:
      return std::min(static_cast<long long>(p.high), static_cast<long long>(std::floor(p.low + u * (p.high - p.low + 1.0))));
    case ParamKind::kChoice: {
      const std::size_t n = p.choices.size();
      return p.choices[std::min(n - 1, static_cast<std::size_t>(u * static_cast<double>(n)))];
    }
    case ParamKind::kFixed: return p.choices.front();
  }
  return nullptr;
}

std::string value_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value.get<double>());
  return text;
}

}  // namespace cellcam::tune
