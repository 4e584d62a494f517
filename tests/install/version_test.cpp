// --version on every program: one line, "socklab <version>", exit 0, the version being the
// one in the top-level CMakeLists.txt's project(). And the examples in the help texts name
// labs that exist (socklab --help once named 'passive-close', which never did).
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include "socklab/catalog.hpp"
#include "install_support.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

class Version : public ::testing::TestWithParam<std::string> {};

TEST_P(Version, PrintsSocklabAndTheProjectVersion) {
    const std::string version = project_version_from_source();
    ASSERT_FALSE(version.empty()) << "no project(socklab VERSION ...) in CMakeLists.txt";
    const auto r = run_command({bin(GetParam()), "--version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "socklab " + version + "\n");
    EXPECT_EQ(r.err, "");
}

TEST_P(Version, IsListedInTheHelp) {
    const auto r = run_command({bin(GetParam()), "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("--version"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(EveryProgram, Version, ::testing::ValuesIn(program_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                             std::string name = param.param;
                             for (auto& c : name)
                                 if (c == '-') c = '_';
                             return name;
                         });

// Every `socklab lab run X` (and the viewer's `--lab X`) in a help text names a real lab.
TEST(HelpExamples, NameLabsThatExist) {
    std::vector<std::vector<std::string>> helps{{bin("socklab"), "--help"},
                                                {bin("socklab"), "lab", "--help"},
                                                {bin("socklab"), "lab", "run", "--help"},
                                                {bin("socklab"), "lab", "list", "--help"}};
    if (SOCKLAB_HAVE_VIEWER) helps.push_back({bin("socklab-viewer"), "--help"});
    const std::regex lab_ref(R"((?:socklab lab run|--lab) +([A-Za-z0-9_-]+))");
    int seen = 0;
    for (const auto& argv : helps) {
        const auto r = run_command(argv);
        ASSERT_EQ(r.exit_code, 0) << argv[1] << ": " << r.err;
        for (std::sregex_iterator it(r.out.begin(), r.out.end(), lab_ref), end; it != end; ++it) {
            const std::string id = (*it)[1];
            // Placeholders: "socklab lab run ID", the viewer's "--lab TEXT".
            if (std::all_of(id.begin(), id.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
                continue;
            ++seen;
            EXPECT_NE(lab::find_lab(id), nullptr)
                << "help of " << argv.back() << " names lab '" << id << "', which does not exist";
        }
    }
    EXPECT_GT(seen, 3) << "the help texts should show labs being run";
}

}  // namespace
}  // namespace socklab::test
