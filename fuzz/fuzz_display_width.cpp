// libFuzzer target: display_width() (frontend/), the terminal columns of UTF-8 text, and
// the viewer's reader of compiled catalogues, mo_translations(). What must hold, for any bytes:
//  - display_width never exceeds two columns a byte, and is additive across any split that
//    does not fall inside a character (before a byte that is not a continuation byte);
//  - append_padded reaches the asked width exactly when the text is narrower;
//  - mo_translations returns views that lie inside the input, or nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/mo_catalog.hpp"
#include "socklab/text_width.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view s(reinterpret_cast<const char*>(data), size);
    const std::size_t w = socklab::text::display_width(s);
    require(w <= 2 * s.size());
    // Every split is checked for inputs up to 512 bytes (quadratic), a few for longer ones.
    const std::size_t step = s.size() <= 512 ? 1 : s.size() / 64;
    for (std::size_t cut = 0; cut <= s.size(); cut += step) {
        if (cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) continue;
        // A split before a non-continuation byte never falls inside a well-formed character
        // and ends any ill-formed part, so the widths add up.
        require(socklab::text::display_width(s.substr(0, cut)) + socklab::text::display_width(s.substr(cut)) == w);
    }
    std::string padded;
    socklab::text::append_padded(padded, s, 40);
    require(socklab::text::display_width(padded) == std::max<std::size_t>(w, 40));

    if (const auto texts = socklab::viewer::mo_translations(s)) {
        for (const auto t : *texts) {
            require(t.data() >= s.data() && t.data() + t.size() <= s.data() + s.size());
            require(t.data() + t.size() < s.data() + s.size() && t.data()[t.size()] == '\0');
        }
    }
    return 0;
}
