"""Translate lines with a Marian or heed LSTM model directory, from Python.

    python examples/python/translate.py examples/dates-marian "3rd of March 2021" "25.12.2023"
    printf '%s\\n' "7/4/1976" "1 jan 2000" | python examples/python/translate.py examples/dates-marian --beam 4
    python examples/python/translate.py examples/dates-marian "Nov. 9, 1989" --attention attention.html
"""

import argparse
import sys

import heed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("lines", nargs="*", help="lines to translate (default: stdin)")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the model's generation config)")
    parser.add_argument("--n-best", type=int, default=1, help="hypotheses per line, with their scores")
    parser.add_argument("--precision", choices=["f32", "bf16", "int8"], default=None)
    parser.add_argument("--attention", help="write where the model looked to this HTML file")
    args = parser.parse_args()

    lines = args.lines or [line.rstrip("\n") for line in sys.stdin]
    try:
        translator = heed.Translator(args.model_dir, precision=args.precision)
        options = {"num_hypotheses": args.n_best, "return_attention": bool(args.attention)}
        if args.beam is not None:
            options["beam_size"] = args.beam
        results = translator.translate_batch(lines, **options)
    except heed.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for r in results:
        if args.n_best > 1:
            print("\n".join(f"{score:.4f}\t{text}" for score, text in zip(r.scores, r.hypotheses)))
        else:
            print(r.hypotheses[0])
    if args.attention:
        heed.attention_html(results, args.attention, title=f"Where {args.model_dir} looked")
        print(f"attention heatmaps written to {args.attention}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
