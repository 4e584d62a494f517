#include "ui/fonts.hpp"

#include <fontconfig/fontconfig.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "model/mo_catalog.hpp"
#include "socklab/i18n.hpp"

namespace socklab::viewer {
namespace {

struct FontFace {
    std::string path;
    int index = 0;  // the face inside a collection (.ttc): Noto Sans CJK's Korean face is 1
};

struct PatternFree {
    void operator()(FcPattern* p) const { FcPatternDestroy(p); }
};
struct ConfigFree {
    void operator()(FcConfig* c) const { FcConfigDestroy(c); }
};
using Pattern = std::unique_ptr<FcPattern, PatternFree>;

// The font fontconfig chooses for Korean, if it really covers Korean: FcFontMatch always
// answers something (DejaVu, say) even on a system without any CJK font.
std::optional<FontFace> match_korean_font(std::string& problem) {
    std::unique_ptr<FcConfig, ConfigFree> config(FcInitLoadConfigAndFonts());
    if (!config) {
        problem = _("fontconfig could not load its configuration");
        return std::nullopt;
    }
    Pattern pattern(FcNameParse(reinterpret_cast<const FcChar8*>(":lang=ko")));
    if (!pattern) return std::nullopt;
    FcConfigSubstitute(config.get(), pattern.get(), FcMatchPattern);
    FcDefaultSubstitute(pattern.get());
    FcResult result = FcResultNoMatch;
    Pattern match(FcFontMatch(config.get(), pattern.get(), &result));
    FcLangSet* langs = nullptr;
    FcChar8* file = nullptr;
    if (!match || FcPatternGetString(match.get(), FC_FILE, 0, &file) != FcResultMatch ||
        FcPatternGetLangSet(match.get(), FC_LANG, 0, &langs) != FcResultMatch ||
        FcLangSetHasLang(langs, reinterpret_cast<const FcChar8*>("ko")) != FcLangEqual) {
        problem = _("fontconfig knows no font for Korean (:lang=ko); install fonts-noto-cjk");
        return std::nullopt;
    }
    // stb_truetype (inside Dear ImGui) reads TrueType and OpenType/CFF outlines only.
    FcChar8* format = nullptr;
    if (FcPatternGetString(match.get(), FC_FONTFORMAT, 0, &format) == FcResultMatch) {
        const std::string f = reinterpret_cast<const char*>(format);
        if (f != "TrueType" && f != "CFF") {
            problem = socklab::i18n::format(_("the Korean font fontconfig chose ({}) is a {} font, "
                                              "which the viewer cannot read; install fonts-noto-cjk"),
                                            reinterpret_cast<const char*>(file), f);
            return std::nullopt;
        }
    }
    int index = 0;
    (void)FcPatternGetInteger(match.get(), FC_INDEX, 0, &index);
    return FontFace{reinterpret_cast<const char*>(file), index};
}

// The whole file in one read (the CJK collection is ~19 MB); empty when it cannot be read.
std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary | std::ios::ate);
    if (!in) return {};
    const auto size = static_cast<std::streamoff>(in.tellg());
    if (size <= 0) return {};
    std::string data(static_cast<std::size_t>(size), '\0');
    in.seekg(0);
    if (!in.read(data.data(), size)) return {};
    return data;
}

// Every character of every translation in the compiled catalogues.
void add_catalogue_text(ImFontGlyphRangesBuilder& b, const std::vector<std::string>& dirs) {
    std::error_code ec;
    for (const auto& dir : dirs) {
        for (const auto& lang : std::filesystem::directory_iterator(dir, ec)) {
            const auto mo = lang.path() / "LC_MESSAGES" / (std::string(socklab::i18n::text_domain) + ".mo");
            if (!std::filesystem::is_regular_file(mo, ec)) continue;
            const std::string bytes = read_file(mo);
            if (const auto texts = mo_translations(bytes))
                for (const auto t : *texts) b.AddText(t.data(), t.data() + t.size());
        }
    }
}

int count_glyphs(const ImVector<ImWchar>& ranges) {
    int n = 0;
    for (int i = 0; i + 1 < ranges.Size && ranges[i] != 0; i += 2) n += ranges[i + 1] - ranges[i] + 1;
    return n;
}

}  // namespace

FontsLoaded load_fonts(ImGuiIO& io, const std::vector<std::string>& catalogue_dirs, bool cjk) {
    FontsLoaded out;
    const char* sans = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    const bool have_sans = std::filesystem::exists(sans);

    // The glyph ranges live as long as the atlas: static.
    static ImVector<ImWchar> latin;
    static ImVector<ImWchar> korean;
    latin.clear();
    korean.clear();
    {
        ImFontGlyphRangesBuilder b;
        b.AddRanges(io.Fonts->GetGlyphRangesDefault());
        // Arrows, box drawing, ✓ ✗, … — used by the panels.
        static const ImWchar extra[] = {0x2010, 0x2027, 0x2190, 0x21FF, 0x2500, 0x257F, 0x2713, 0x2717, 0};
        b.AddRanges(extra);
        b.BuildRanges(&latin);
    }
    std::optional<FontFace> face;
    if (cjk) face = match_korean_font(out.problem);
    if (face) {
        ImFontGlyphRangesBuilder b;
        // Every Hangul syllable (U+AC00-U+D7A3: process names and chat lines may use any),
        // the compatibility jamo, CJK punctuation and full-width forms, and whatever else
        // the catalogues' translations use.
        static const ImWchar hangul[] = {0x3000, 0x303F, 0x3130, 0x318F, 0xAC00, 0xD7A3, 0xFF00, 0xFFEF, 0};
        b.AddRanges(hangul);
        add_catalogue_text(b, catalogue_dirs);
        b.BuildRanges(&korean);
    }

    // One copy of the CJK file for both sizes (it is ~19 MB): the atlas does not own it.
    static std::string cjk_data;
    if (face) {
        cjk_data = read_file(face->path);
        if (cjk_data.empty()) {
            out.problem = socklab::i18n::format(_("failed to read the Korean font {}"), face->path);
            face.reset();
        }
    }
    for (const float size : {16.0f, 22.0f}) {  // 22: the ladder, read from afar
        if (have_sans) {
            io.Fonts->AddFontFromFileTTF(sans, size, nullptr, latin.Data);
            out.glyphs += count_glyphs(latin);
        } else {
            io.Fonts->AddFontDefault();  // ImGui's built-in font: ASCII only, still usable
        }
        if (face) {
            ImFontConfig cfg;
            cfg.MergeMode = true;
            cfg.FontNo = face->index;
            cfg.FontDataOwnedByAtlas = false;
            cfg.OversampleH = 1;  // CJK glyphs are dense: no horizontal oversampling (a third of the atlas)
            cfg.PixelSnapH = true;
            // Noto Sans CJK's ascent + descent is larger than DejaVu's, so at one pixel size its
            // syllables come out smaller than the Latin letters beside them: enlarge them to
            // match DejaVu's cap height, and lower them onto its baseline.
            cfg.GlyphOffset = ImVec2(0.0f, size * 0.06f);
            io.Fonts->AddFontFromMemoryTTF(cjk_data.data(), static_cast<int>(cjk_data.size()), size * 1.14f, &cfg,
                                           korean.Data);
            out.glyphs += count_glyphs(korean);
        }
    }
    if (have_sans) out.files.emplace_back(sans);
    if (face) {
        out.cjk_file = face->path + (face->index != 0 ? "#" + std::to_string(face->index) : "");
        out.files.push_back(out.cjk_file);
    }
    // Many glyphs: a wide texture keeps the height within what GL drivers accept.
    io.Fonts->TexDesiredWidth = face ? 4096 : 0;
    io.Fonts->Flags |= ImFontAtlasFlags_NoPowerOfTwoHeight;
    const auto t0 = std::chrono::steady_clock::now();
    io.Fonts->Build();
    out.build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    // The glyphs are rasterised: the atlas never reads the font file again (it does not own
    // it, and main() clears the CPU texture only after the GPU has it, so nothing rebuilds).
    cjk_data = std::string();
    out.atlas_width = io.Fonts->TexWidth;
    out.atlas_height = io.Fonts->TexHeight;
    return out;
}

}  // namespace socklab::viewer
