// dataset.h — the list of labelled images a trainer reads: which file, which class, which patient.
//
// Three layouts, as public microscopy datasets ship them (load_dataset tells them apart):
//   ImageFolder  root/<class>/<image>                   class index = position in the sorted folder
//                                                        names, as torchvision's ImageFolder
//   Kaggle       root/labels.csv (id,label) + root/images/<id>.<ext> (or root/train/, or root/)
//   manifest     a CSV with a header path,label[,group|patient]; paths relative to the CSV's folder
// Only names are read, never pixels: decoding is the loader's job, so a broken image is reported
// there. A row that cannot be used (no file, malformed line) goes to Dataset::skipped instead of
// failing the load; an error means there is nothing sensible to train on. Every order is sorted, so
// the same files give the same sample indices on every machine (a saved split depends on that).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::data {

struct Sample {
  std::string path;   // the root or CSV folder as given, joined with the file's name (absolute if the root was)
  int label = 0;      // index into Dataset::classes
  std::string group;  // patient / slide the image comes from; empty when unknown
};

struct Skipped {
  std::string path;    // the file (or, for a malformed line, the CSV)
  std::string reason;  // e.g. "line 12: expected 3 fields, found 2", "no image file for id 7f3a"
};

struct Dataset {
  std::vector<std::string> classes;  // class names; a sample's label indexes this
  std::vector<Sample> samples;
  std::vector<Skipped> skipped;
  bool has_groups = false;  // a group column was read: splits must keep each group in one part
};

// root/<class>/<image>. Classes are the sub-folders sorted by name (an empty one is kept as a class
// with no samples); images are the files with an image extension anywhere below a class folder,
// sorted by path. Other files, and names starting with '.', are ignored.
Result<Dataset> load_image_folder(const std::string& root);

// root/labels.csv (header id,label; extra columns ignored) and the images in root/images/,
// root/train/ or root itself. An id's file is <id> plus an image extension (any case; if several
// exist the first in .png .jpg .jpeg .bmp .gif .tga .tif .tiff order wins), or <id> itself when the
// id already names a file. Labels may be integers or strings; classes are the distinct labels sorted,
// numerically when all are integers.
Result<Dataset> load_kaggle(const std::string& root);

// A CSV whose header names the columns path and label (any order, any case, extra columns ignored),
// and optionally a group column called group or patient. Relative paths are relative to the CSV's
// folder. Classes as for load_kaggle.
Result<Dataset> load_manifest(const std::string& csv_path);

// A .csv file: manifest. A .zip (or a file that starts like one): the page's reviewed set, unpacked next
// to it (reviewed_set.h). A folder with review.json and manifest.csv: an unpacked reviewed set. A folder
// with manifest.csv: manifest (so the groups are read; an empty group is an image of its own). A folder
// with labels.csv: Kaggle. Any other folder: ImageFolder.
Result<Dataset> load_dataset(const std::string& path);

// The CSV reader behind the loaders (and read_split_csv): RFC 4180 quoting ("a,b", "say ""hi"""),
// LF, CRLF or CR line ends, a UTF-8 byte order mark, blank lines ignored. Fields are not trimmed.
struct CsvRow {
  int line = 0;  // 1-based line on which the row starts, for messages
  std::vector<std::string> fields;
};
// `name` only labels messages. The one error is a quoted field left open (kCorrupt).
Result<std::vector<CsvRow>> parse_csv(std::string_view text, const std::string& name);
Result<std::vector<CsvRow>> read_csv_file(const std::string& path);

// One field as parse_csv() reads it back: quoted (with doubled quotes) only when it holds a comma, a
// quote or a line break, or starts or ends with a space (which the reader trims).
std::string csv_field(const std::string& s);

}  // namespace cellcam::data
