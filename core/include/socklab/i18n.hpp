// i18n.hpp — the message catalogue: every text a person reads goes through here.
//
// English is the source language. A text is marked where it is written:
//   _("Address already in use")              translated now (dgettext in the "socklab" domain)
//   N_("...")                                only marked, for tables of texts translated later
//   socklab::i18n::tr_n(one, many, n)        a text with a count (ngettext)
//   socklab::i18n::format(_("{} sockets"), n) a translated fmt format string
// xgettext extracts the marked texts into po/socklab.pot; po/<lang>.po holds each language.
// JSON field names and state names (CLOSE_WAIT) are never marked: they do not change.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace socklab::i18n {

inline constexpr const char* text_domain = "socklab";

// The translation of `msgid` in the current language, or `msgid` itself (never empty).
const char* tr(const char* msgid) noexcept;
// The translation of a text with a count.
const char* tr_n(const char* singular, const char* plural, unsigned long n) noexcept;

// Chooses the language at the start of main (and again when the viewer switches live): `lang` ("en", "ko") beats LC_ALL,
// LC_MESSAGES and LANG; empty means "from the environment". Works whether or not the
// machine has generated the locale. Returns false (and stays English) for an unknown lang.
bool init(std::string_view lang = {});
// The language in use: "en" or "ko".
std::string_view language() noexcept;
// Where the compiled catalogues are (<dir>/<lang>/LC_MESSAGES/socklab.mo), or empty.
std::string catalogue_dir();
// Is `lang` one of the languages init() takes ("en", "ko")?
bool is_language(std::string_view lang) noexcept;
// "ko" for "ko_KR.UTF-8" or "ko", "en" for anything else.
std::string_view language_of_locale(std::string_view name);

// fmt::format with a translated format string (placeholders are checked by the catalogue
// test, not the compiler).
template <typename... Args>
std::string format(const char* translated, Args&&... args) {
    return fmt::format(fmt::runtime(translated), std::forward<Args>(args)...);
}

// fmt::print with a translated format string.
template <typename... Args>
void print(std::FILE* to, const char* translated, Args&&... args) {
    fmt::print(to, fmt::runtime(translated), std::forward<Args>(args)...);
}
template <typename... Args>
void print(const char* translated, Args&&... args) {
    fmt::print(fmt::runtime(translated), std::forward<Args>(args)...);
}

}  // namespace socklab::i18n

#ifndef _
#define _(msgid) ::socklab::i18n::tr(msgid)
#endif
#ifndef N_
#define N_(msgid) msgid
#endif
