#include "system/diagnostic.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <tuple>
#include <utility>

namespace psos::system {

UnreadableFile::UnreadableFile(std::string path, std::string reason, std::string_view kind)
    : std::runtime_error("cannot read " + (kind.empty() ? "" : std::string(kind) + " ") + path +
                         ": " + reason),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

std::string to_string(Position position) {
  return std::to_string(position.line) + ":" + std::to_string(position.column);
}

std::string to_string(const Diagnostic& diagnostic) {
  return diagnostic.file + ":" + to_string(diagnostic.at) + ": " +
         (diagnostic.path.empty() ? "(root)" : diagnostic.path) + ": " + diagnostic.message;
}

void sort_and_deduplicate(Diagnostics& diagnostics) {
  std::stable_sort(diagnostics.begin(), diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.file != b.file) return a.file < b.file;
                     return a.at < b.at;
                   });
  using Key = std::tuple<std::string, std::uint32_t, std::uint32_t, std::string, std::string>;
  std::set<Key> seen;
  Diagnostics unique;
  for (Diagnostic& d : diagnostics) {
    if (seen.emplace(d.file, d.at.line, d.at.column, d.path, d.message).second)
      unique.push_back(std::move(d));
  }
  diagnostics = std::move(unique);
}

std::string in_quotes(std::string_view text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// Optimal string alignment distance: edits, with a swap of neighbours as one edit ("evrey").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j)
    d[0][j] = j;
  auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

}  // namespace

std::string_view closest(std::string_view word, const std::vector<std::string_view>& candidates) {
  // Long words are compared only when their lengths are near: typos do not change lengths much,
  // and this keeps the quadratic distance cheap on hostile input.
  if (word.empty() || word.size() > 64) return {};
  const std::size_t allowed = word.size() <= 4 ? 1 : word.size() <= 8 ? 2 : 3;
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  auto lower = [](std::string_view text) {
    std::string out(text);
    for (char& c : out)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  const std::string lower_word = lower(word);
  for (const std::string_view candidate : candidates) {
    // One is the start of the other ("warning" for "warn", "subscribe" for "sub"): as close as
    // one typo.
    const std::string lower_candidate = lower(candidate);
    const bool prefix =
        std::min(word.size(), candidate.size()) >= 3 &&
        (lower_word.starts_with(lower_candidate) || lower_candidate.starts_with(lower_word));
    if (!prefix &&
        (candidate.size() > word.size() + allowed || word.size() > candidate.size() + allowed))
      continue;
    const std::size_t distance = prefix ? 1 : edit_distance(word, candidate);
    if (distance < best_distance && distance < word.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  const std::string_view best = closest(word, candidates);
  return best.empty() ? "" : "; did you mean " + in_quotes(best) + "?";
}

}  // namespace psos::system
