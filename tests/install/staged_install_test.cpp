// `cmake --install` of this build tree into a temporary DESTDIR: what lands where, that the
// installed socklab finds the lab programs in libexec (not beside itself, where there are none),
// and that the man page and the completions generated from --help describe the programs.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "socklab/catalog.hpp"
#include "install_support.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

namespace fs = std::filesystem;

bool is_executable_file(const fs::path& p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR) != 0;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The width and height in a PNG's IHDR chunk (0, 0 if it is not a PNG).
std::pair<unsigned, unsigned> png_size(const fs::path& p) {
    const std::string data = read_file(p);
    if (data.size() < 24 || data.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return {0, 0};
    auto be32 = [&](std::size_t at) {
        unsigned v = 0;
        for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(data[at + i]);
        return v;
    };
    return {be32(16), be32(20)};
}

const std::vector<std::string> kStateNames{"CLOSE",     "CLOSE_WAIT", "CLOSING",   "ESTABLISHED",
                                           "FIN_WAIT1", "FIN_WAIT2",  "LAST_ACK",  "LISTEN",
                                           "SYN_RECV",  "SYN_SENT",   "TIME_WAIT", "UNCONN"};

constexpr const char* kNoDocs =
    "this tree does not generate man pages and completions (SOCKLAB_BUILD_DOCS is off: "
    "sanitizer and fuzz builds)";

class StagedInstall : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = std::make_unique<TempDir>("socklab-install");
        const auto r = staged_install(dir_->path);
        install_ok_ = r.exit_code == 0;
        install_log_ = r.out + r.err;
    }
    static void TearDownTestSuite() { dir_.reset(); }

    void SetUp() override {
        ASSERT_TRUE(install_ok_) << "cmake --install failed:\n" << install_log_;
        prefix_ = staged_prefix(dir_->path);
    }

    [[nodiscard]] fs::path under(const char* dir) const { return prefix_ / dir; }

    static std::unique_ptr<TempDir> dir_;
    static bool install_ok_;
    static std::string install_log_;
    fs::path prefix_;
};
std::unique_ptr<TempDir> StagedInstall::dir_;
bool StagedInstall::install_ok_ = false;
std::string StagedInstall::install_log_;

TEST_F(StagedInstall, ProgramsInBinLabProgramsInLibexec) {
    EXPECT_TRUE(is_executable_file(under(SOCKLAB_INSTALL_BINDIR) / "socklab"));
    if (SOCKLAB_HAVE_VIEWER) {
        EXPECT_TRUE(is_executable_file(under(SOCKLAB_INSTALL_BINDIR) / "socklab-viewer"));
    }
    for (const auto& lab : lab::kLabs) {
        const std::string name = "socklab-lab-" + std::string(lab.id);
        EXPECT_TRUE(is_executable_file(under(SOCKLAB_INSTALL_LIBEXECDIR) / "socklab" / name)) << name;
        EXPECT_FALSE(fs::exists(under(SOCKLAB_INSTALL_BINDIR) / name)) << name << " is on PATH";
    }
    // Nothing else of ours in bin: tests and benchmarks are not installed.
    for (const auto& e : fs::directory_iterator(under(SOCKLAB_INSTALL_BINDIR))) {
        EXPECT_TRUE(e.path().filename() == "socklab" || e.path().filename() == "socklab-viewer")
            << e.path();
    }
}

TEST_F(StagedInstall, InstalledSocklabFindsTheLabsInLibexec) {
    const auto socklab = (under(SOCKLAB_INSTALL_BINDIR) / "socklab").string();
    const auto r = run_command({socklab, "lab", "list", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto labs = nlohmann::json::parse(r.out);
    ASSERT_EQ(labs.size(), lab::kLabs.size());
    for (const auto& l : labs) { EXPECT_TRUE(l.at("installed").get<bool>()) << l.at("id"); }

    // And it runs one, from there (root: in a namespace of its own, for the lab's fixed port).
    if (!is_root()) GTEST_SKIP() << "running a lab in a private network namespace needs root";
    PrivateNetns netns;
    const auto run = run_command({socklab, "lab", "run", "bind", "--auto", "--json"}, {},
                                 std::chrono::seconds(60));
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find(R"("event":"done")"), std::string::npos) << run.out;
}

// The Korean catalogue lands in LOCALEDIR, and the installed programs (bin/ and the labs in
// libexec/) find it there.
TEST_F(StagedInstall, InstalledProgramsSpeakKorean) {
    EXPECT_TRUE(fs::is_regular_file(under(SOCKLAB_INSTALL_LOCALEDIR) / "ko" / "LC_MESSAGES" / "socklab.mo"));
    const auto who = run_command({(under(SOCKLAB_INSTALL_BINDIR) / "socklab").string(), "--lang", "ko",
                                  "who", "1"});
    EXPECT_EQ(who.exit_code, 1) << who.err;
    EXPECT_EQ(who.out, "포트 1/tcp: 잡고 있는 것이 없습니다.\n");
    const auto lab = run_command(
        {(under(SOCKLAB_INSTALL_LIBEXECDIR) / "socklab" / "socklab-lab-bind").string(), "--lang",
         "ko", "--help"});
    EXPECT_EQ(lab.exit_code, 0) << lab.err;
    EXPECT_NE(lab.out.find("사용법: socklab-lab-bind"), std::string::npos) << lab.out;
}

TEST_F(StagedInstall, SocklabAloneSaysWhereItLookedForTheLabs) {
    // The lookup can fail: a socklab with neither the labs beside it nor a libexec dir.
    TempDir lone("socklab-lone");
    fs::create_directories(lone.path / "bin");
    fs::copy_file(under(SOCKLAB_INSTALL_BINDIR) / "socklab", lone.path / "bin" / "socklab");
    const auto socklab = (lone.path / "bin" / "socklab").string();
    const auto list = run_command({socklab, "lab", "list", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    for (const auto& l : nlohmann::json::parse(list.out)) {
        EXPECT_FALSE(l.at("installed").get<bool>()) << l.at("id");
    }
    const auto run = run_command({socklab, "lab", "run", "bind", "--auto"});
    EXPECT_EQ(run.exit_code, 1);
    const std::string where =
        fs::path(SOCKLAB_INSTALL_LIBEXECDIR).is_absolute()
            ? std::string(SOCKLAB_INSTALL_LIBEXECDIR) + "/socklab"
            : fs::relative(fs::path("/p") / SOCKLAB_INSTALL_LIBEXECDIR / "socklab",
                           fs::path("/p") / SOCKLAB_INSTALL_BINDIR)
                  .string();
    EXPECT_EQ(run.err,
              "socklab: failed to find the lab program socklab-lab-bind: it is neither beside "
              "socklab nor in " + where + "; build the 'socklab-labs' target or install socklab\n");
}

TEST_F(StagedInstall, DocsAreInShareDoc) {
    const fs::path docs = under(SOCKLAB_INSTALL_DOCDIR);
    EXPECT_EQ(read_file(docs / "README.md"), read_file(fs::path(SOCKLAB_SOURCE_DIR) / "README.md"));
    int files = 0;
    const fs::path source = fs::path(SOCKLAB_SOURCE_DIR) / "docs";
    for (const auto& e : fs::recursive_directory_iterator(source)) {
        if (!e.is_regular_file()) continue;
        ++files;
        const auto rel = fs::relative(e.path(), source);
        EXPECT_EQ(read_file(docs / rel), read_file(e.path())) << rel;
    }
    EXPECT_GT(files, 5);
}

TEST_F(StagedInstall, ManPageShowsEveryCommandAndOption) {
    if (!SOCKLAB_HAVE_DOCS) GTEST_SKIP() << kNoDocs;
    const fs::path page = under(SOCKLAB_INSTALL_MANDIR) / "man1" / "socklab.1";
    ASSERT_TRUE(fs::exists(page));
    // groff finds nothing to warn about in it...
    if (have_program("groff")) {
        const auto g = run_command({"groff", "-man", "-z", page.string()});
        EXPECT_EQ(g.exit_code, 0);
        EXPECT_EQ(g.err, "");
    }
    // ...and the rendered page has each subcommand and each option its --help shows.
    const auto rendered = run_command({"env", "MANWIDTH=200", "man", "-l", page.string()});
    ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
    const std::string& text = rendered.out;
    EXPECT_NE(text.find("socklab " + project_version_from_source()), std::string::npos) << text;
    const std::regex option(R"(--[a-z][a-z-]*)");
    const auto root = run_command({bin("socklab"), "--help"}).out;
    std::vector<std::vector<std::string>> commands;
    for (const auto& sub : help_subcommands(root)) {
        const auto help = run_command({bin("socklab"), sub, "--help"}).out;
        const auto nested = help_subcommands(help);
        if (nested.empty()) commands.push_back({sub});
        for (const auto& n : nested) commands.push_back({sub, n});
    }
    ASSERT_GT(commands.size(), 5u);
    for (const auto& cmd : commands) {
        std::vector<std::string> argv{bin("socklab")};
        argv.insert(argv.end(), cmd.begin(), cmd.end());
        argv.emplace_back("--help");
        const auto help = run_command(argv).out;
        std::string name = "socklab";
        for (const auto& w : cmd) name += " " + w;
        EXPECT_NE(text.find(name), std::string::npos) << name;
        for (std::sregex_iterator it(help.begin(), help.end(), option), end; it != end; ++it) {
            EXPECT_NE(text.find(it->str()), std::string::npos) << name << ": " << it->str();
        }
    }
    if (SOCKLAB_HAVE_VIEWER) {
        const fs::path viewer_page = under(SOCKLAB_INSTALL_MANDIR) / "man1" / "socklab-viewer.1";
        const auto v = run_command({"env", "MANWIDTH=200", "man", "-l", viewer_page.string()});
        ASSERT_EQ(v.exit_code, 0) << v.err;
        const auto help = run_command({bin("socklab-viewer"), "--help"}).out;
        for (std::sregex_iterator it(help.begin(), help.end(), option), end; it != end; ++it) {
            EXPECT_NE(v.out.find(it->str()), std::string::npos) << "socklab-viewer " << it->str();
        }
    }
}

TEST_F(StagedInstall, BashCompletesCommandsOptionsLabsAndStates) {
    if (!SOCKLAB_HAVE_DOCS) GTEST_SKIP() << kNoDocs;
    const fs::path script = under(SOCKLAB_INSTALL_DATADIR) / "bash-completion" / "completions" / "socklab";
    ASSERT_TRUE(fs::exists(script));
    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", ""}),
              help_subcommands(run_command({bin("socklab"), "--help"}).out));
    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", "lab", ""}),
              (std::vector<std::string>{"list", "run"}));

    std::vector<std::string> labs;
    for (const auto& lab : lab::kLabs) {
        labs.emplace_back(lab.id);
        labs.push_back(std::to_string(lab.number));
    }
    std::sort(labs.begin(), labs.end());
    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", "lab", "run", ""}), labs);
    // An option that takes a value is skipped over: the ID is still what comes next.
    std::vector<std::string> labs_c;
    std::copy_if(labs.begin(), labs.end(), std::back_inserter(labs_c),
                 [](const std::string& id) { return id.starts_with("c"); });
    ASSERT_GE(labs_c.size(), 2U);  // chat, close-wait-leak, ...
    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", "lab", "run", "--port", "9100", "c"}),
              labs_c);

    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", "list", "--state", ""}), kStateNames);
    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", "list", "-s", "TIME"}),
              (std::vector<std::string>{"TIME_WAIT"}));
    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", "lab", "run", "chat", "--role", ""}),
              (std::vector<std::string>{"both", "client", "server"}));
    EXPECT_EQ(bash_complete(script, "_socklab", {"socklab", "free", "8080", "--signal", ""}),
              (std::vector<std::string>{"KILL", "TERM"}));
    const auto list_options = bash_complete(script, "_socklab", {"socklab", "list", "--"});
    for (const char* o : {"--tcp", "--udp", "--state", "--port", "--processes", "--json", "--help"}) {
        EXPECT_NE(std::find(list_options.begin(), list_options.end(), o), list_options.end()) << o;
    }

    if (SOCKLAB_HAVE_VIEWER) {
        const fs::path viewer =
            under(SOCKLAB_INSTALL_DATADIR) / "bash-completion" / "completions" / "socklab-viewer";
        const auto options = bash_complete(viewer, "_socklab_viewer", {"socklab-viewer", "--"});
        for (const char* o : {"--screenshot", "--lab", "--dump-state", "--version"}) {
            EXPECT_NE(std::find(options.begin(), options.end(), o), options.end()) << o;
        }
    }
}

TEST_F(StagedInstall, ZshCompletionNamesCommandsLabsAndStates) {
    if (!SOCKLAB_HAVE_DOCS) GTEST_SKIP() << kNoDocs;
    const std::string text =
        read_file(under(SOCKLAB_INSTALL_DATADIR) / "zsh" / "vendor-completions" / "_socklab");
    EXPECT_EQ(text.rfind("#compdef socklab\n", 0), 0u);
    for (const auto& sub : help_subcommands(run_command({bin("socklab"), "--help"}).out)) {
        EXPECT_NE(text.find("'" + sub + ":"), std::string::npos) << sub;
    }
    for (const auto& lab : lab::kLabs) { EXPECT_NE(text.find(" " + std::string(lab.id)), std::string::npos) << lab.id; }
    for (const auto& s : kStateNames) { EXPECT_NE(text.find(s), std::string::npos) << s; }
    if (have_program("zsh")) {
        const auto r = run_command({"zsh", "-n", (under(SOCKLAB_INSTALL_DATADIR) / "zsh" /
                                                  "vendor-completions" / "_socklab").string()});
        EXPECT_EQ(r.exit_code, 0) << r.err;
    }
}

TEST_F(StagedInstall, DesktopEntryAndIconsForTheViewer) {
    if (!SOCKLAB_HAVE_DOCS) GTEST_SKIP() << kNoDocs;
    if (!SOCKLAB_HAVE_VIEWER) GTEST_SKIP() << "the viewer is not built";
    const fs::path desktop = under(SOCKLAB_INSTALL_DATADIR) / "applications" / "socklab-viewer.desktop";
    const std::string entry = read_file(desktop);
    EXPECT_NE(entry.find("\nExec=socklab-viewer\n"), std::string::npos) << entry;
    EXPECT_NE(entry.find("\nIcon=socklab-viewer\n"), std::string::npos) << entry;
    if (have_program("desktop-file-validate")) {
        const auto r = run_command({"desktop-file-validate", desktop.string()});
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    const fs::path icons = under(SOCKLAB_INSTALL_DATADIR) / "icons" / "hicolor";
    EXPECT_NE(read_file(icons / "scalable" / "apps" / "socklab-viewer.svg").find("<svg"),
              std::string::npos);
    for (unsigned size : {48u, 128u, 256u}) {
        const auto dir = std::to_string(size) + "x" + std::to_string(size);
        EXPECT_EQ(png_size(icons / dir / "apps" / "socklab-viewer.png"), std::make_pair(size, size))
            << dir;
    }
}

}  // namespace
}  // namespace socklab::test
