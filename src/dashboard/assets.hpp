// The page's files (src/dashboard/web/), built into the binary by embed_assets.cmake: the
// dashboard needs no files and no network at run time.
#pragma once

#include <string_view>

namespace psos::dashboard {

struct Asset {
  std::string_view path;          // "/index.html"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

// The asset served at `path` ("/" is "/index.html"), or nullptr.
const Asset* find_asset(std::string_view path);

}  // namespace psos::dashboard
