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

}  // namespace

std::string catalogue_dir() {
    static const std::string dir = find_locale_dir();
    return dir;
}

const char* tr(const char* msgid) noexcept { return ::dgettext(text_domain, msgid); }

const char* tr_n(const char* singular, const char* plural, unsigned long n) noexcept {
    return ::dngettext(text_domain, singular, plural, n);
}

// The language a locale name ("ko_KR.UTF-8", "ko", "en_US", "C.UTF-8") asks for: "ko" or
// "en" (every other language falls back to English, the source language).
std::string_view language_of_locale(std::string_view name) {
    const auto end = name.find_first_of("_.@");
    const auto code = name.substr(0, end);
    return code == "ko" ? "ko" : "en";
}

bool init(std::string_view lang) {
    if (!lang.empty() && !is_language(lang)) {
        init({});
        return false;
    }
    // Only the character type and the messages follow the environment: numbers keep the C
    // locale's '.', so JSON and the tables read the same in every language.
    const bool generated = std::setlocale(LC_CTYPE, "") != nullptr;
    std::setlocale(LC_MESSAGES, "");
    if (lang.empty()) {
        // The first of LC_ALL, LC_MESSAGES, LANG that is set, as POSIX orders them.
        for (const char* var : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
            const char* value = std::getenv(var);
            if (value && *value) {
                lang = language_of_locale(value);
                break;
            }
        }
        if (lang.empty()) lang = "en";
    }
    g_language = std::string(lang);
    // glibc's gettext reads LANGUAGE (a list of languages) before the locale's own name, but
    // ignores it while LC_MESSAGES is "C". So the choice is made through LANGUAGE, and where
    // the locale is "C" (ko_KR not generated: setlocale failed, or LANG=C) the messages
    // category moves to C.UTF-8, which every glibc since 2.35 has built in. Korean text is
    // UTF-8 whatever the locale, so this works without ko_KR.UTF-8 ever being generated.
    ::setenv("LANGUAGE", g_language.c_str(), 1);
    if (!generated) std::setlocale(LC_CTYPE, "C.UTF-8");
    const char* messages = std::setlocale(LC_MESSAGES, nullptr);
    if (g_language != "en" && (!messages || std::string_view(messages) == "C" ||
                               std::string_view(messages) == "POSIX")) {
        for (const char* fallback : {"C.UTF-8", "C.utf8", "en_US.UTF-8", "ko_KR.UTF-8"})
            if (std::setlocale(LC_MESSAGES, fallback)) break;
    }
    if (const auto dir = catalogue_dir(); !dir.empty()) ::bindtextdomain(text_domain, dir.c_str());
    ::bind_textdomain_codeset(text_domain, "UTF-8");
    // init() may be called again (the viewer's Language menu): forget cached translations.
    ++_nl_msg_cat_cntr;
    return true;
}

bool is_language(std::string_view lang) noexcept { return lang == "en" || lang == "ko"; }

std::string_view language() noexcept { return g_language; }

}  // namespace socklab::i18n
