// eda.cpp — run_eda (eda.h): load the dataset, check the output folder, gather on all cores while the
// main thread draws a progress bar on stderr, then write the report.
#include "eda.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "dataset.h"
#include "eda_report.h"
#include "eda_stats.h"
#include "file_io.h"
#include "split.h"

namespace cellcam::eda {
namespace {

void draw_progress(std::size_t done, std::size_t total) {
  constexpr int kWidth = 30;
  const int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
  std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu", filled, "##############################", kWidth - filled, "", done, total);
  std::fflush(stderr);
}

}  // namespace

int run_eda(const EdaSettings& s) {
  const auto start = std::chrono::steady_clock::now();
  Result<data::Dataset> loaded = data::load_dataset(s.data);
  if (!loaded) {
    std::fprintf(stderr, "cellcam eda: %s: %s\n", s.data.c_str(), loaded.error().message.c_str());
    return 1;
  }
  const data::Dataset& ds = loaded.value();
  const std::string out = native::without_trailing_separators(s.out);
  Result<bool> folder = native::check_output_folder(out, s.force, {"report.md"}, "cellcam eda report",
                                                    "use --force to replace it, or another --out");
  if (!folder) {
    std::fprintf(stderr, "cellcam eda: %s\n", folder.error().message.c_str());
    return 1;
  }
  ReportInput input;
  input.data = s.data;
  if (!s.split.empty()) {
    Result<data::Split> split = data::read_split_csv(s.split, ds);
    if (!split) {
      std::fprintf(stderr, "cellcam eda: %s: %s\n", s.split.c_str(), split.error().message.c_str());
      return 1;
    }
    input.split = s.split;
    input.part.assign(ds.samples.size(), -1);
    for (int i : split.value().train) input.part[i] = 0;
    for (int i : split.value().val) input.part[i] = 1;
    for (int i : split.value().test) input.part[i] = 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "cellcam eda: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }

  std::atomic<std::size_t> done{0};
  EdaOptions options;
  options.threads = s.threads;
  options.samples = s.samples;
  options.mean_size = s.mean_size;
  options.near_threshold = s.near_threshold;
  options.near_tolerance = s.near_tolerance;
  options.seed = s.seed;
  options.progress = &done;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  input.threads = s.threads == 0 ? static_cast<int>(cores) : s.threads;
  std::optional<Result<EdaStats>> gathered;
  std::atomic<bool> finished{false};
  std::thread worker([&] {
    gathered.emplace(gather_eda(ds, options));
    finished = true;
  });
  const std::size_t total = ds.samples.size();
  while (!finished) {
    if (s.progress) draw_progress(done.load(), total);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  worker.join();
  if (s.progress) {
    draw_progress(done.load(), total);
    std::fprintf(stderr, "\n");
  }
  if (!gathered->ok()) {
    std::fprintf(stderr, "cellcam eda: %s\n", gathered->error().message.c_str());
    return 1;
  }
  const EdaStats& stats = gathered->value();
  input.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Result<ReportCounts> written = write_eda_report(out, ds, stats, input);
  if (!written) {
    std::fprintf(stderr, "cellcam eda: %s\n", written.error().message.c_str());
    return 1;
  }
  const ReportCounts& c = written.value();
  std::printf("%zu images, %zu classes, %zu unreadable, %zu skipped rows\n", total, ds.classes.size(), total - stats.readable,
              ds.skipped.size());
  std::printf("%s\n", spec_line(stats).c_str());
  std::printf("duplicates: %zu exact pairs, %zu near pairs (dHash distances <= %d, thumbnail difference <= %.3f; %zu hash "
              "candidates); %zu with different labels",
              stats.exact_pairs, stats.near_pairs, stats.near_threshold, stats.near_tolerance, stats.hash_candidates,
              c.different_label);
  if (ds.has_groups) std::printf(", %zu across groups", c.different_group);
  if (!input.part.empty()) std::printf(", %zu leaks across the split", c.leaks);
  std::printf("\n%s/report.md written in %.1f s\n", out.c_str(), input.seconds);
  return 0;
}

}  // namespace cellcam::eda
