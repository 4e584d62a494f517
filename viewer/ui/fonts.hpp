#pragma once
// The viewer's fonts: DejaVu Sans for Latin text, with a CJK font merged into the same atlas
// so Hangul (Korean UI texts, process names, chat lines) draws instead of '?'. The CJK font
// is found through fontconfig (the font the system gives for `:lang=ko`), never by path.
#include <string>
#include <vector>

#include <imgui.h>

namespace socklab::viewer {

struct FontsLoaded {
    std::vector<std::string> files;  // every font file in the atlas ("path" or "path#face")
    std::string cjk_file;            // empty: no CJK font (Latin UI, Hangul shows as '?')
    std::string problem;             // why there is no CJK font, one line; empty when there is
    int atlas_width = 0;             // the texture, after Build()
    int atlas_height = 0;
    int glyphs = 0;                  // glyphs asked for, over every font
    double build_ms = 0;             // rasterising the atlas (ImFontAtlas::Build)
};

// Adds the fonts to io.Fonts and builds the atlas. `catalogue_dirs`: where the compiled
// catalogues (<dir>/<lang>/LC_MESSAGES/socklab.mo) are; every character their translations
// use gets a glyph. `cjk`: false leaves the CJK font out (to measure what it costs).
FontsLoaded load_fonts(ImGuiIO& io, const std::vector<std::string>& catalogue_dirs, bool cjk);

}  // namespace socklab::viewer
