// test_csv.cpp — CSV cells (cellcam/csv.h): formula neutralisation and RFC 4180 quoting. Runs natively
// and compiled to wasm under node, as every shared suite; the page's CSV goes through the same code.
#include <gtest/gtest.h>

#include <string>

#include "cellcam/csv.h"

using cellcam::csv_cell;
using cellcam::csv_is_number;
using cellcam::csv_neutralise;
using cellcam::csv_quote;

TEST(Csv, FormulasGetALeadingQuote) {
  for (const std::string s : {"=SUM(A1:A9)", "+cmd|calc", "-2+3", "@SUM(1)", "\tx", "\rx", "=1", "-", "+", "@",
                              "-foo.png", "+1+1", "-1e", "--1", "-.", "-Infinity", "-nan"})
    EXPECT_EQ(csv_neutralise(s), "'" + s) << s;
}

TEST(Csv, NumbersStayNumbers) {
  for (const std::string s : {"-0.5", "-3", "+1", "-1e-7", "-.5", "1.5E+3", "0", "-12.", "0.999999", "+.5e2"}) {
    EXPECT_TRUE(csv_is_number(s)) << s;
    EXPECT_EQ(csv_neutralise(s), s) << s;
    EXPECT_EQ(csv_cell(s), s) << s;
  }
  for (const std::string s : {"", ".", "e5", "1e", "1e+", "1.2.3", "--1", "1-", " 1", "0x10"}) EXPECT_FALSE(csv_is_number(s)) << s;
}

TEST(Csv, OtherTextsUntouched) {
  for (const std::string s : {"", "cell.png", "a=b", "x-1", " =x", "'=x", "Parasitized", "1e5=", "\xc3\xa9=\xc3\xbc"})
    EXPECT_EQ(csv_neutralise(s), s) << s;
}

TEST(Csv, Rfc4180QuotingAfterNeutralisation) {
  EXPECT_EQ(csv_quote("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_quote("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_quote("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_quote("=x"), "=x");
  EXPECT_EQ(csv_cell("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  EXPECT_EQ(csv_cell("\rx"), "\"'\rx\"");
  EXPECT_EQ(csv_cell("plain"), "plain");
}
