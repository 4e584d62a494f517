// The message catalogue at run time: socklab::i18n in this process, and socklab and a lab
// speaking Korean — chosen by --lang or by LANG=ko_KR.UTF-8 on a machine where that locale is
// not generated — with JSON that does not change with the language.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "socklab/fd.hpp"
#include "socklab/i18n.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using namespace socklab::test;

bool has_hangul(const std::string& s) {
    // U+AC00..U+D7A3 (Hangul syllables) start with the bytes EA..ED in UTF-8.
    return std::any_of(s.begin(), s.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b >= 0xEA && b <= 0xED;
    });
}

TEST(I18n, TranslatesAMarkedTextInKorean) {
    ASSERT_TRUE(i18n::init("ko"));
    EXPECT_EQ(i18n::language(), "ko");
    EXPECT_STREQ(_("Usage"), "사용법");
    EXPECT_EQ(i18n::format(_("{} min"), 3), "3분");
}

TEST(I18n, FallsBackToEnglishForAnUntranslatedText) {
    ASSERT_TRUE(i18n::init("ko"));
    const char* text = "a sentence no catalogue has";
    EXPECT_STREQ(_(text), text);
    EXPECT_STREQ(i18n::tr_n("one untranslated", "{} untranslated", 2), "{} untranslated");
}

TEST(I18n, EnglishIsTheSourceLanguage) {
    ASSERT_TRUE(i18n::init("en"));
    EXPECT_EQ(i18n::language(), "en");
    EXPECT_STREQ(_("Usage"), "Usage");
}

TEST(I18n, AnUnknownLanguageIsRefused) {
    EXPECT_FALSE(i18n::init("fr"));
    EXPECT_FALSE(i18n::is_language("fr"));
    EXPECT_FALSE(i18n::is_language(""));
}

TEST(I18n, LanguageOfALocaleName) {
    EXPECT_EQ(i18n::language_of_locale("ko_KR.UTF-8"), "ko");
    EXPECT_EQ(i18n::language_of_locale("ko_KR"), "ko");
    EXPECT_EQ(i18n::language_of_locale("ko"), "ko");
    EXPECT_EQ(i18n::language_of_locale("ko.UTF-8@euro"), "ko");
    EXPECT_EQ(i18n::language_of_locale("en_US.UTF-8"), "en");
    EXPECT_EQ(i18n::language_of_locale("C.UTF-8"), "en");
    EXPECT_EQ(i18n::language_of_locale("kok_IN"), "en");  // Konkani is not Korean
    EXPECT_EQ(i18n::language_of_locale(""), "en");
}

// ---- the programs ----

// A listener of this process on a kernel-chosen loopback port, for `socklab who` to find.
struct Listener {
    UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};  // not inherited by socklab
    std::uint16_t port = 0;
    Listener() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        EXPECT_EQ(::listen(fd.get(), 1), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
};

// The environment of a Korean user: LANG=ko_KR.UTF-8 and nothing that overrides it.
std::vector<std::string> korean_env() {
    return {"env", "-u", "LC_ALL", "-u", "LC_MESSAGES", "-u", "LANGUAGE", "LANG=ko_KR.UTF-8"};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(I18nCli, HelpInKorean) {
    const auto res = run_command({bin("socklab"), "--lang", "ko", "--help"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    EXPECT_NE(res.out.find("사용법: socklab"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("--lang ko|en"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("하위 명령:"), std::string::npos) << res.out;
    // subcommand names and options stay as typed
    for (const char* word : {"list", "who", "why", "free", "trace", "export", "lab"})
        EXPECT_NE(res.out.find(std::string("\n  ") + word + " "), std::string::npos) << word;
    const auto en = run_command({bin("socklab"), "--lang", "en", "--help"});
    EXPECT_NE(en.out.find("Usage: socklab"), std::string::npos) << en.out;
    EXPECT_FALSE(has_hangul(en.out)) << en.out;
}

TEST(I18nCli, BadLanguageIsOneLineAndExit2) {
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {bin("socklab"), "--lang", "fr", "who", "1"},
             {bin("socklab"), "who", "1", "--lang=xx"},
             {bin("socklab-lab-bind"), "--lang", "de"}}) {
        const auto res = run_command(argv);
        EXPECT_EQ(res.exit_code, 2) << argv.back();
        const auto first = res.err.substr(0, res.err.find('\n'));
        EXPECT_NE(first.find("is not a language socklab speaks: use ko or en"), std::string::npos)
            << res.err;
    }
}

// The command-line mistakes a learner makes most, in Korean in every program; English keeps
// CLI11's own words (the English rows of docs/errors.md).
TEST(I18nCli, ParseErrorsInKorean) {
    const std::string usage = "\n사용법은 'socklab --help'로 보세요.\n";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{bin("socklab"), "--lang", "ko", "list", "--bogus"}, "socklab: 예상하지 못한 인자입니다: --bogus" + usage},
        {{bin("socklab"), "--lang", "ko", "who", "80", "81"}, "socklab: 예상하지 못한 인자입니다: 81" + usage},
        {{bin("socklab"), "--lang", "ko", "who"}, "socklab: PORT이(가) 필요합니다" + usage},
        {{bin("socklab"), "--lang", "ko", "lab"}, "socklab: 하위 명령이 필요합니다" + usage},
        // A misspelt command is named even after a global option.
        {{bin("socklab"), "--lang", "ko", "frobnicate"},
         "socklab: 알 수 없는 명령 'frobnicate': 다음 중 하나를 쓰세요: list, who, why, free, trace, run, "
         "check, export, lab\n"},
        {{bin("socklab-lab-bind"), "--lang", "ko", "--bogus"},
         "socklab-lab-bind: 예상하지 못한 인자입니다: --bogus\n사용법은 'socklab-lab-bind --help'로 보세요.\n"},
        {{bin("socklab"), "--lang", "en", "who"}, "socklab: PORT is required\nRun 'socklab --help' for usage.\n"},
        {{bin("socklab"), "--lang", "en", "frobnicate"},
         "socklab: unknown command 'frobnicate': use one of list, who, why, free, trace, run, check, export, lab\n"},
    };
    for (const auto& [argv, want] : cases) {
        const auto res = run_command(argv);
        EXPECT_EQ(res.exit_code, 2) << argv[3];
        EXPECT_EQ(res.err, want);
    }
}

// LANG=ko_KR.UTF-8 where ko_KR is not generated: LOCPATH points glibc at a directory that
// holds only C.UTF-8, so this runs the same on a machine that has ko_KR and on one without.
TEST(I18nCli, LangKoreanWithoutTheLocaleGenerated) {
    const std::filesystem::path c_utf8 = "/usr/lib/locale/C.utf8";
    if (!std::filesystem::is_directory(c_utf8)) GTEST_SKIP() << "no " << c_utf8;
    TempDir locales;
    std::filesystem::create_directory_symlink(c_utf8, locales.path / "C.utf8");
    const auto check = run_command(with(with(korean_env(), {"LOCPATH=" + locales.path.string()}),
                                        {"locale"}));
    ASSERT_NE(check.err.find("Cannot set LC_"), std::string::npos)
        << "ko_KR.UTF-8 should not be available here: " << check.err;

    Listener l;
    const auto port = std::to_string(l.port);
    const auto res = run_command(with(with(korean_env(), {"LOCPATH=" + locales.path.string()}),
                                      {bin("socklab"), "who", port}));
    ASSERT_EQ(res.exit_code, 0) << res.err;
    EXPECT_NE(res.out.find("포트 " + port + "/tcp: 프로세스 1개가 잡고 있습니다:"),
              std::string::npos)
        << res.out;
    // column headers and state names stay as ss prints them
    EXPECT_NE(res.out.find("LISTEN"), std::string::npos) << res.out;
}

// --lang beats LC_ALL, LC_MESSAGES and LANG, either way round.
TEST(I18nCli, LangOptionBeatsTheEnvironment) {
    const auto ko = run_command({"env", "LC_ALL=en_US.UTF-8", "LANG=en_US.UTF-8", bin("socklab"),
                                 "--lang", "ko", "who", "1"});
    EXPECT_EQ(ko.exit_code, 1);
    EXPECT_NE(ko.out.find("포트 1/tcp: 잡고 있는 것이 없습니다."), std::string::npos) << ko.out;
    const auto en = run_command(with(korean_env(), {"LC_ALL=ko_KR.UTF-8", bin("socklab"), "who",
                                                    "1", "--lang", "en"}));
    EXPECT_EQ(en.exit_code, 1);
    EXPECT_EQ(en.out, "Nobody holds port 1/tcp.\n");
    // LC_ALL beats LANG
    const auto lc_all = run_command({"env", "-u", "LC_MESSAGES", "LC_ALL=en_US.UTF-8",
                                     "LANG=ko_KR.UTF-8", bin("socklab"), "who", "1"});
    EXPECT_EQ(lc_all.out, "Nobody holds port 1/tcp.\n");
    const auto lc_messages = run_command({"env", "-u", "LC_ALL", "LC_MESSAGES=ko_KR.UTF-8",
                                          "LANG=en_US.UTF-8", bin("socklab"), "who", "1"});
    EXPECT_TRUE(has_hangul(lc_messages.out)) << lc_messages.out;
}

// The shape of a JSON document: every key path, with the type of its value.
void shape(const json& j, const std::string& path, std::set<std::string>& out) {
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) shape(v, path + "." + k, out);
    } else if (j.is_array()) {
        for (const auto& v : j) shape(v, path + "[]", out);
    } else {
        out.insert(path + ":" + j.type_name());
    }
}

TEST(I18nCli, JsonKeysDoNotChangeWithTheLanguage) {
    Listener l;
    const auto port = std::to_string(l.port);
    for (const char* command : {"who", "why"}) {
        const auto en = run_command({bin("socklab"), "--lang", "en", command, port, "--json"});
        const auto ko = run_command({bin("socklab"), "--lang", "ko", command, port, "--json"});
        ASSERT_EQ(en.exit_code, ko.exit_code) << command;
        std::set<std::string> en_shape, ko_shape;
        shape(json::parse(en.out), "", en_shape);
        shape(json::parse(ko.out), "", ko_shape);
        EXPECT_EQ(en_shape, ko_shape) << command;
        EXPECT_FALSE(en_shape.empty());
        // state names are never translated
        EXPECT_NE(ko.out.find("\"LISTEN\""), std::string::npos) << ko.out;
    }
    // `why` tells the diagnosis in Korean inside the same fields
    const auto ko = json::parse(run_command({bin("socklab"), "--lang", "ko", "why", port, "--json"}).out);
    EXPECT_TRUE(has_hangul(ko.dump(-1, ' ', false))) << ko.dump();
}

// What a learner without root reads first (trace, run, the labs, the viewer all show it): in
// Korean, with the tracepoint's name and the command kept as typed.
TEST(I18nCli, TracerNeedsRootInKorean) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("setpriv")) GTEST_SKIP() << "needs setpriv (util-linux)";
    const auto res = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  bin("socklab"), "--lang", "ko", "trace"});
    EXPECT_EQ(res.exit_code, 1);
    EXPECT_EQ(res.err, "socklab: 상태 전이를 추적하지 않습니다: 트레이스포인트 sock:inet_sock_set_state에는 "
                       "root 권한이 필요합니다. root로 실행하세요(예: 'sudo socklab trace'). 표, 실습, 포트 "
                       "진단은 폴링만으로 계속 동작합니다\n");
    const auto off = run_command({bin("socklab"), "--lang", "ko", "trace", "--no-trace"});
    EXPECT_EQ(off.exit_code, 1);
    EXPECT_NE(off.err.find("--no-trace로 추적을 껐습니다"), std::string::npos) << off.err;
}

TEST(I18nLab, TerminalTranscriptInKorean) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto res = run_command(with(korean_env(), {bin("socklab-lab-bind"), "--auto"}), {}, 60s);
    ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_NE(res.out.find("socklab 실습 1 — "), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("실습 끝: 기대한 것이 모두 맞았습니다 ✓"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("bind("), std::string::npos) << res.out;  // calls shown as they run
}

}  // namespace
}  // namespace socklab
