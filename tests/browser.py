"""Reading the dashboard's state out of a real browser page."""

from __future__ import annotations


def tiles(browser) -> dict[str, dict]:
    """Per camera: frames shown so far, the seq on screen, placeholder state, status text."""
    return browser.execute_script(
        """
        const out = {};
        document.querySelectorAll('.camera').forEach((tile) => {
          const img = tile.querySelector('img.stream');
          out[tile.dataset.camera] = {
            frames: parseInt(img.dataset.frames || '0', 10),
            seq: img.dataset.seq || '',
            placeholder: img.dataset.placeholder || '',
            loaded: img.complete && img.naturalWidth > 0,
            status: tile.querySelector('.status').textContent,
          };
        });
        return out;
        """
    )
