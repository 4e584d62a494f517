// display_width(): terminal columns of UTF-8 text, and the tables that use it. The oracle
// for single characters is glibc's wcwidth() in the C.UTF-8 locale (a different table,
// kept by glibc from the same Unicode data); `socklab who` is checked with a process whose
// name is Hangul, whole and cut by the kernel's 15-byte comm in the middle of a syllable.
#include <gtest/gtest.h>

#include <unistd.h>

#include <clocale>
#include <cwchar>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "child.hpp"
#include "socklab/text_width.hpp"
#include "testsupport.hpp"

namespace {

using socklab::text::append_padded;
using socklab::text::codepoint_width;
using socklab::text::display_width;

TEST(DisplayWidth, CountsColumnsNotBytes) {
    EXPECT_EQ(display_width(""), 0u);
    EXPECT_EQ(display_width("LISTEN"), 6u);
    EXPECT_EQ(display_width("채팅서버"), 8u);  // 12 bytes, 4 wide syllables
    EXPECT_EQ(display_width("chat-서버"), 9u);
    EXPECT_EQ(display_width("e\xCC\x81"), 1u);        // e + combining acute: one column
    EXPECT_EQ(display_width("\xE1\x84\x80\xE1\x85\xA1"), 2u);  // conjoining jamo ᄀ + ᅡ: one syllable
    EXPECT_EQ(display_width("日本"), 4u);
    EXPECT_EQ(display_width("ｈ"), 2u);  // full-width Latin
    EXPECT_EQ(display_width("→ ✓"), 3u);
}

// A Hangul chat line as a student types it: every syllable two columns, spaces one.
TEST(DisplayWidth, HangulChatLine) {
    const std::string line = "안녕하세요! 채팅 서버에 접속했습니다.";
    std::size_t hangul = 0, other = 0;
    for (std::size_t i = 0; i < line.size();) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c >= 0xE0) {
            ++hangul;
            i += 3;
        } else {
            ++other;
            ++i;
        }
    }
    EXPECT_EQ(display_width(line), 2 * hangul + other);
    std::string padded;
    append_padded(padded, line, 50);
    EXPECT_EQ(display_width(padded), 50u);
}

// A name cut by the kernel (comm is at most 15 bytes) mid-syllable: the cut part is one
// U+FFFD on a terminal, one column; broken bytes never count as wide.
TEST(DisplayWidth, CutAndBrokenUtf8) {
    const std::string name = "a채팅서버앱";  // 16 bytes
    const std::string comm = name.substr(0, 15);  // "a채팅서버" + 2 of 앱's 3 bytes
    EXPECT_EQ(display_width(comm), 1u + 8u + 1u);
    EXPECT_EQ(display_width("\xEC"), 1u);          // a lead byte alone
    EXPECT_EQ(display_width("\x80\x80"), 2u);      // two stray continuation bytes
    EXPECT_EQ(display_width("\xED\xA0\x80"), 3u);  // a surrogate: not UTF-8, three bad bytes
    EXPECT_EQ(display_width("\xC0\xAF"), 2u);      // an overlong '/'
    EXPECT_EQ(display_width("\xF4\x90\x80\x80"), 4u);  // beyond U+10FFFF
}

TEST(DisplayWidth, PaddingFillsColumns) {
    std::string out;
    append_padded(out, "서버", 6);
    EXPECT_EQ(out, "서버  ");
    out.clear();
    append_padded(out, "ESTABLISHED", 4);  // wider than asked: left whole
    EXPECT_EQ(out, "ESTABLISHED");
}

// Against glibc's wcwidth() for every code point below U+30000: Hangul, CJK, ASCII and the
// full-width forms agree exactly; elsewhere whether a character is wide (two columns)
// agrees but for a few dozen that the two Unicode versions class differently (the Yijing
// hexagrams, some emoji). Combining marks of other scripts are not compared: glibc knows
// more of them than our short zero-width table, and they are not what tables here hold.
TEST(DisplayWidth, AgreesWithGlibcWcwidth) {
    ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr) << "C.UTF-8 is part of every glibc";
    std::size_t wide_differs = 0;
    for (char32_t cp = 0x20; cp < 0x30000; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        const int libc = ::wcwidth(static_cast<wchar_t>(cp));
        if (libc < 0) continue;  // unassigned or control: glibc has no answer
        const int ours = codepoint_width(cp);
        const bool must = (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F) ||
                          (cp >= 0xAC00 && cp <= 0xD7FF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
                          (cp >= 0x20 && cp < 0x7F) || (cp >= 0xFF01 && cp <= 0xFF60);
        if (must) {
            EXPECT_EQ(ours, libc) << std::hex << "U+" << static_cast<unsigned>(cp);
        } else if ((ours == 2) != (libc == 2)) {
            ++wide_differs;
        }
    }
    EXPECT_LT(wide_differs, 100u) << wide_differs << " code points are wide in one table only";
    std::setlocale(LC_CTYPE, "C");
}

// `socklab who` lines its columns up by display width: a listener whose process name is
// Hangul (a symlink named 채팅서버 to python3: the kernel takes comm from the name run),
// and one cut mid-syllable at 15 bytes.
class WhoWithHangul : public ::testing::TestWithParam<std::string> {};

TEST_P(WhoWithHangul, ColumnsLineUp) {
    const std::string name = GetParam();
    socklab::test::TempDir dir("socklab-hangul");
    const auto link = dir.path / name;
    std::filesystem::create_symlink("/usr/bin/python3", link);
    socklab::test::Child server(
        {link.string(), "-c",
         "import socket,sys\n"
         "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
         "print(s.getsockname()[1], flush=True); sys.stdin.read()"});
    const auto port = server.next_line(std::chrono::seconds(10));
    ASSERT_TRUE(port.has_value()) << server.err();

    const auto r = socklab::test::run_command({std::string(SOCKLAB_BIN_DIR) + "/socklab", "who", *port});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The header and the row: each header word starts in the column its value starts in.
    std::istringstream in(r.out);
    std::string line, header, row;
    while (std::getline(in, line)) {
        if (line.find("PID") != std::string::npos) header = line;
        else if (!header.empty() && row.empty() && line.find("LISTEN") != std::string::npos) row = line;
    }
    ASSERT_FALSE(header.empty()) << r.out;
    ASSERT_FALSE(row.empty()) << r.out;
    const std::string comm = name.substr(0, 15);
    ASSERT_NE(row.find(comm), std::string::npos) << "the command column shows the kernel's comm\n" << r.out;
    // Column where a byte offset of a line lands.
    const auto column = [](const std::string& l, std::size_t byte) { return display_width(l.substr(0, byte)); };
    // USER and STATE start where the values after the command start.
    const auto user_col = column(header, header.find("USER"));
    const auto state_col = column(header, header.find("STATE"));
    EXPECT_EQ(column(row, row.find("LISTEN")), state_col) << r.out;
    // The value under USER begins right at the header's column: the command cell was padded
    // to the same number of columns in both lines.
    const auto after_comm = row.find_first_not_of(' ', row.find(comm) + comm.size());
    EXPECT_EQ(column(row, after_comm), user_col) << r.out;
    server.close_stdin();
}

INSTANTIATE_TEST_SUITE_P(Names, WhoWithHangul,
                         ::testing::Values(std::string("채팅서버"),      // 12 bytes: whole
                                           std::string("a채팅서버앱")),  // 16: cut mid-syllable
                         [](const auto& p) { return p.index == 0 ? "whole" : "cut_mid_syllable"; });

}  // namespace
