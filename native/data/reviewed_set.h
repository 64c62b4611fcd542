// reviewed_set.h — the page's "Export reviewed set" ZIP as a dataset (issue 17, "Back into training").
//
// The ZIP (format "cellcam-reviewed-set/1", written by the page):
//   manifest.csv   path,label,group,predicted,probability,model,reviewed_at,note
//                  path = images/NNNNN_<name>, relative to the ZIP's root; label = the reviewed class;
//                  group = a folder name or empty (each such image is a group of its own when splitting)
//   images/...     the original image files
//   review.json    {"format": "cellcam-reviewed-set/1", "model": {"name", "version", "sha256"},
//                   "classes": [...], "exported_at", "images", "confirmed", "corrected"}
// `cellcam train REVIEWED.zip` and `cellcam finetune MODEL REVIEWED.zip` unpack it once, next to the ZIP,
// into REVIEWED.unpacked/ (reused while the ZIP's entries are unchanged) and read that folder's
// manifest.csv as any manifest dataset (dataset.h); the unpacked folder itself is a dataset too.
//
// Unpacking is defensive: the ZIP comes from a browser and may be damaged or hostile. Refused, each with
// one line and nothing left behind: an entry with an absolute path, a ".." component, a backslash or a
// NUL; a symbolic link; an encrypted entry; more than `max_entries` entries; more than `max_total_bytes`
// uncompressed (counted while inflating, not taken from the header, which a zip bomb lies in); a
// damaged archive (libzip's reason). The folder appears whole or not at all (a temporary folder, renamed).
// Not thread-safe for the same ZIP from two processes at once (the second rename fails with a clear error).
#pragma once

#include <cstdint>
#include <string>

#include "cellcam/error.h"
#include "dataset.h"

namespace cellcam::data {

// The "format" value of review.json this reader understands.
constexpr const char* kReviewedSetFormat = "cellcam-reviewed-set/1";

struct ZipLimits {
  std::uint64_t max_entries = 100000;                  // files and folders in the archive
  std::uint64_t max_total_bytes = 4ull << 30;          // uncompressed bytes of all entries together
  std::uint64_t max_entry_bytes = 512ull << 20;        // one entry (the page's largest image file)
};

// True when `path` is a regular file that starts with a ZIP signature ("PK\3\4", or "PK\5\6" when empty).
bool looks_like_zip(const std::string& path);

// The folder a ZIP unpacks into: <zip without .zip>.unpacked next to it.
std::string unpacked_folder_for(const std::string& zip_path);

// Unpacks `zip_path` into unpacked_folder_for(zip_path) (or reuses it when it is complete and its
// .cellcam-unpacked stamp names the same entries, sizes and CRCs) and returns the folder.
// Errors: kIo (cannot read or write), kCorrupt (damaged archive), kInvalidArgument (unsafe entry, limits).
Result<std::string> unpack_zip(const std::string& zip_path, const ZipLimits& limits = {});
// The same into `folder` (tests; the folder must not exist, or hold a matching stamp).
Result<std::string> unpack_zip_into(const std::string& zip_path, const std::string& folder, const ZipLimits& limits = {});

// A reviewed set: a .zip (unpacked as above) or its unpacked folder. Needs manifest.csv at the root;
// review.json, when present, must name kReviewedSetFormat. A manifest row whose path leaves the folder
// (absolute, "..") is skipped with its reason, never read.
Result<Dataset> load_reviewed_set(const std::string& zip_or_folder, const ZipLimits& limits = {});

}  // namespace cellcam::data
