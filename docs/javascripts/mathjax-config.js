// MathJax 3 configuration of the nephlab docs (loaded before ./mathjax/tex-svg.js, which is
// shipped with the site: no CDN, no web fonts, so maths renders offline).
// - inline maths: $...$ (notebook pages, rendered by mkdocs-jupyter) and \(...\) (Markdown
//   pages, through pymdownx.arithmatex); display maths: $$...$$ and \[...\];
// - code and pre elements are skipped (MathJax's default), so a $ in code stays a $;
// - no context menu and no extra components to fetch at run time.
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
  },
  options: { enableMenu: false },
  loader: { load: [] },
  svg: { fontCache: "global" },
};
