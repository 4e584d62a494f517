#pragma once
// The texts of a compiled gettext catalogue (a .mo file), read without gettext: the viewer
// asks which characters the translations use, so its font atlas holds every glyph they need
// (gettext itself only answers one msgid at a time). A pure function over the file's bytes.
#include <optional>
#include <string_view>
#include <vector>

namespace socklab::viewer {

// The translations (msgstr) of a .mo file, in the file's order; each a view into `bytes`.
// Plural forms come as one string with NULs between them. nullopt when `bytes` is not a
// well-formed .mo file (wrong magic, a table or string outside the file, a string without
// its NUL).
[[nodiscard]] std::optional<std::vector<std::string_view>> mo_translations(std::string_view bytes);

}  // namespace socklab::viewer
