// The one UTF-8 decoder every text hand-off uses (JSON lines, Prometheus labels, chat
// messages split across reads), against Unicode's Table 3-7 and the shapes the kernel and
// peers give: a process name cut at 15 bytes inside a Hangul syllable, overlong forms,
// surrogates, bytes that are no text at all.
#include <gtest/gtest.h>

#include <string>

#include "socklab/utf8.hpp"

namespace socklab {
namespace {

constexpr const char* kFffd = "\xEF\xBF\xBD";

TEST(Utf8, SequenceLengthsFollowTable3_7) {
    EXPECT_EQ(utf8::sequence_at("a", 0), 1u);
    EXPECT_EQ(utf8::sequence_at("\xC3\xA9", 0), 2u);          // é
    EXPECT_EQ(utf8::sequence_at("\xEC\x84\x9C", 0), 3u);      // 서
    EXPECT_EQ(utf8::sequence_at("\xF0\x9F\x98\x80", 0), 4u);  // U+1F600
    EXPECT_EQ(utf8::sequence_at("\xF4\x8F\xBF\xBF", 0), 4u);  // U+10FFFF, the last
    EXPECT_EQ(utf8::sequence_at("\xEF\xBF\xBD", 0), 3u);      // U+FFFD itself
    for (const std::string bad : {"\x80", "\xBF", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF",  // overlong
                                  "\xED\xA0\x80", "\xED\xBF\xBF",                          // surrogates
                                  "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF",          // > U+10FFFF
                                  "\xEC\x84", "\xF0\x9F\x98", "\xC3",                      // cut short
                                  "\xC3\x41", "\xEC\x84\x41"})                             // no continuation
        EXPECT_EQ(utf8::sequence_at(bad, 0), 0u) << testing::PrintToString(bad);
    EXPECT_EQ(utf8::sequence_at("a\xC3\xA9", 1), 2u);
}

TEST(Utf8, ValidKeepsWholeCharactersAndReplacesEachOtherByte) {
    EXPECT_EQ(utf8::valid("nginx"), "nginx");
    EXPECT_EQ(utf8::valid("\xEC\x84\x9C\xEB\xB2\x84"), "\xEC\x84\x9C\xEB\xB2\x84");  // 서버
    EXPECT_EQ(utf8::valid("a\xFFz"), std::string("a") + kFffd + "z");
    EXPECT_EQ(utf8::valid("\xC0\xAF"), std::string(kFffd) + kFffd);  // overlong '/'
    EXPECT_EQ(utf8::valid("\xED\xA0\x80"), std::string(kFffd) + kFffd + kFffd);  // surrogate
    EXPECT_EQ(utf8::valid("\xEC\x84"), std::string(kFffd) + kFffd);  // cut at 15 bytes
    EXPECT_EQ(utf8::valid(std::string("a\0b", 3)), std::string("a\0b", 3));  // NUL is a character
    EXPECT_EQ(utf8::valid(""), "");
}

TEST(Utf8, WholePrefixHoldsBackOnlyACharacterCutAtTheEnd) {
    EXPECT_EQ(utf8::whole_prefix(""), 0u);
    EXPECT_EQ(utf8::whole_prefix("abc"), 3u);
    EXPECT_EQ(utf8::whole_prefix("a\xEC\x84\x9C"), 4u);  // a서: whole
    EXPECT_EQ(utf8::whole_prefix("a\xEC\x84"), 1u);      // 서 cut after two bytes
    EXPECT_EQ(utf8::whole_prefix("a\xEC"), 1u);          // ...after one
    EXPECT_EQ(utf8::whole_prefix("a\xF0\x9F\x98"), 1u);  // a 4-byte one cut after three
    EXPECT_EQ(utf8::whole_prefix("\xC3"), 0u);
    // Bytes that can begin nothing are not waited for: the next read cannot make them text.
    EXPECT_EQ(utf8::whole_prefix("a\xFF"), 2u);
    EXPECT_EQ(utf8::whole_prefix("a\xC0"), 2u);
    EXPECT_EQ(utf8::whole_prefix("\x80\x80\x80\x80"), 4u);
}

}  // namespace
}  // namespace socklab
