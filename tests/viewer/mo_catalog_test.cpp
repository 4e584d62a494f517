// mo_translations(): the translations of a compiled catalogue, read for the font atlas.
// The oracle is GNU msgfmt itself: a catalogue written here, compiled by msgfmt, read back.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "model/mo_catalog.hpp"

namespace {

using socklab::viewer::mo_translations;

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/socklab-mo-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

TEST(MoCatalog, ReadsWhatMsgfmtWrote) {
    TempDir dir;
    const auto po = dir.path / "ko.po";
    std::ofstream(po) << "msgid \"\"\nmsgstr \"Content-Type: text/plain; charset=UTF-8\\n\"\n\n"
                         "msgid \"Sockets\"\nmsgstr \"소켓\"\n\n"
                         "msgid \"close / snd FIN\"\nmsgstr \"close / FIN 송신\"\n\n"
                         "msgid \"untranslated\"\nmsgstr \"\"\n";
    const auto mo = dir.path / "ko.mo";
    const std::string cmd = "msgfmt -o '" + mo.string() + "' '" + po.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "msgfmt (Debian: gettext) is needed: " << cmd;
    const std::string bytes = slurp(mo);
    const auto texts = mo_translations(bytes);
    ASSERT_TRUE(texts.has_value());
    // msgfmt sorts by msgid and leaves the untranslated entry out; the header comes first.
    ASSERT_EQ(texts->size(), 3u);
    EXPECT_NE((*texts)[0].find("charset=UTF-8"), std::string_view::npos);
    EXPECT_EQ((*texts)[1], "소켓");
    EXPECT_EQ((*texts)[2], "close / FIN 송신");
}

TEST(MoCatalog, RejectsWhatIsNotACatalogue) {
    EXPECT_FALSE(mo_translations("").has_value());
    EXPECT_FALSE(mo_translations("hello, world: not a catalogue").has_value());
    // The right magic, then nothing: the header is cut short.
    EXPECT_FALSE(mo_translations(std::string("\xde\x12\x04\x95", 4)).has_value());
}

TEST(MoCatalog, RejectsOffsetsOutsideTheFile) {
    TempDir dir;
    const auto po = dir.path / "x.po";
    std::ofstream(po) << "msgid \"a\"\nmsgstr \"b\"\n";
    const auto mo = dir.path / "x.mo";
    ASSERT_EQ(std::system(("msgfmt -o '" + mo.string() + "' '" + po.string() + "'").c_str()), 0);
    std::string bytes = slurp(mo);
    ASSERT_TRUE(mo_translations(bytes).has_value());
    // A translation whose NUL is overwritten (found by fuzz_display_width) is refused.
    std::string no_nul = bytes;
    const auto at = no_nul.rfind(std::string("b\0", 2));
    ASSERT_NE(at, std::string::npos);
    no_nul[at + 1] = 'x';
    EXPECT_FALSE(mo_translations(no_nul).has_value());
    // Every truncation of a good file is refused, never read past its end.
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(mo_translations(std::string_view(bytes).substr(0, n)).has_value()) << n;
}

}  // namespace
