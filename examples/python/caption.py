"""Caption pictures with a Show, Attend and Tell model directory, from Python.

    python examples/python/caption.py examples/shapes-caption examples/shapes-test/00[0-2].png --beam 3
    python examples/python/caption.py examples/shapes-caption examples/shapes-test/000.png --attention overlays.html
"""

import argparse
import sys

import heed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("images", nargs="+", help="PNG or JPEG files")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--attention", help="write each word's attention over its picture to this HTML file")
    args = parser.parse_args()
    try:
        captioner = heed.Captioner(args.model_dir)
        results = captioner.caption_batch(args.images, beam_size=args.beam, return_attention=bool(args.attention))
        for image, r in zip(args.images, results):
            print(f"{image}\t{r.hypotheses[0]}\t{r.scores[0]:.4f}")
        if args.attention:
            heed.attention_html(results, args.attention, title=f"Where {args.model_dir} looked")
            print(f"attention overlays written to {args.attention}", file=sys.stderr)
    except heed.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
