// i18n.cpp — GNU gettext (glibc's libintl) behind socklab::i18n.
#include "socklab/i18n.hpp"

#include <libintl.h>
#include <unistd.h>

#include <array>
#include <clocale>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

extern "C" int _nl_msg_cat_cntr;  // glibc/GNU gettext: bump to drop cached translations

namespace socklab::i18n {
namespace {

std::string g_language = "en";

// The catalogue directory: <prefix>/share/locale next to the running program, which covers
// the build tree (build/<preset>/bin -> build/<preset>/share/locale), /usr/bin and the labs in
// /usr/libexec/socklab.
std::string find_locale_dir() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
        auto candidate = dir / "share" / "locale";
        if (std::filesystem::is_directory(candidate, ec)) return candidate.string();
    }
    return {};
}

// The language the environment asks for (LC_ALL beats LC_MESSAGES beats LANG).
std::string environment_language() {
    for (const char* var : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
        const char* v = std::getenv(var);
        if (v == nullptr || *v == '\0') continue;
        return std::string(v).rfind("ko", 0) == 0 ? "ko" : "en";
    }
    return "en";
}

}  // namespace

std::string catalogue_dir() {
    static const std::string dir = find_locale_dir();
    return dir;
}

const char* tr(const char* msgid) noexcept { return ::dgettext(text_domain, msgid); }

const char* tr_n(const char* singular, const char* plural, unsigned long n) noexcept {
    return ::dngettext(text_domain, singular, plural, n);
}

bool init(std::string_view lang) {
    std::setlocale(LC_ALL, "");
    if (const auto dir = catalogue_dir(); !dir.empty()) ::bindtextdomain(text_domain, dir.c_str());
    ::bind_textdomain_codeset(text_domain, "UTF-8");
    if (!lang.empty() && lang != "en" && lang != "ko") return false;
    g_language = lang.empty() ? environment_language() : std::string(lang);
    // gettext picks the catalogue from LANGUAGE, which it honours whenever LC_MESSAGES is not
    // plain "C" — so Korean works on a machine that has only C.UTF-8 (no ko_KR locale).
    if (const char* m = std::setlocale(LC_MESSAGES, nullptr); m == nullptr || std::string_view(m) == "C" ||
                                                              std::string_view(m) == "POSIX")
        std::setlocale(LC_MESSAGES, "C.UTF-8");
    ::setenv("LANGUAGE", g_language.c_str(), 1);
    // init() may be called again (the viewer's Language menu): forget cached translations.
    ++_nl_msg_cat_cntr;
    return true;
}

std::string_view language() noexcept { return g_language; }

}  // namespace socklab::i18n
