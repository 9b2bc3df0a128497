"""Translator, Generator, Captioner and QuestionAnswerer on the bundled models: PyTorch's
results (test.pytorch, captions.tsv, questions.tsv, written by the training scripts),
the C++ tool's, and attention_html."""

import numpy as np
import pytest

import heed
from conftest import EXAMPLES, heed_tool

MARIAN = EXAMPLES / "dates-marian"
PICTURES = EXAMPLES / "shapes-test"


def lines(path, n):
    return path.read_text().splitlines()[:n]


@pytest.fixture(scope="module")
def translator():
    return heed.Translator(MARIAN)


def test_greedy_translations_equal_pytorchs(translator):
    source = lines(MARIAN / "test.src", 100)
    results = translator.translate_batch(source)
    assert [r.hypotheses[0] for r in results] == lines(MARIAN / "test.pytorch", 100)
    assert all(len(r.hypotheses) == 1 and r.scores[0] <= 0 for r in results)
    assert results[0].source == source[0] and str(results[0]) == results[0].hypotheses[0]


def test_beam_n_best_equals_the_tool(translator):
    source = lines(MARIAN / "test.src", 12)
    results = translator.translate_batch(source, beam_size=4, num_hypotheses=2)
    tool = heed_tool("translate", MARIAN, "--beam", 4, "--n-best", 2, stdin="\n".join(source) + "\n").splitlines()
    ours = [f"{s:.4f}\t{h}" for r in results for s, h in zip(r.scores, r.hypotheses)]
    assert ours == tool


def test_attention_has_a_row_per_target_piece(translator, tmp_path):
    [r] = translator.translate_batch(["3rd of March 2021"], return_attention=True)
    assert len(r.attention) == 1
    a = r.attention[0]
    assert a.shape == (len(r.tokens[0]), len(r.source_tokens)) and a.dtype == np.float32
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-4)
    page = tmp_path / "attention.html"
    html = heed.attention_html([r], page)
    assert page.read_text() == html and html.count("<img") == 1 and "3rd of March 2021" in html
    [plain] = translator.translate_batch(["3rd of March 2021"])
    assert plain.attention == []
    with pytest.raises(heed.Error, match="return_attention=True"):
        heed.attention_html([plain])


def test_options_and_refusals(translator):
    assert translator.translate("25.12.2023") == "2023-12-25"
    short = translator.translate_batch(["25.12.2023"], max_length=3)[0]
    assert len(short.tokens[0]) <= 3
    assert translator.translate_batch(["25.12.2023"], max_decoding_length=3)[0].tokens == short.tokens
    assert translator.translate_batch([""])[0].hypotheses == [""]
    with pytest.raises(heed.Error, match="num_hypotheses 3 is more than the beam size 2"):
        translator.translate_batch(["x"], beam_size=2, num_hypotheses=3)
    with pytest.raises(heed.Error, match="beam_size must be a positive int"):
        translator.translate_batch(["x"], beam_size=0)
    with pytest.raises(heed.Error, match="max_length or max_decoding_length"):
        translator.translate_batch(["x"], max_length=3, max_decoding_length=4)
    with pytest.raises(heed.Error, match="a list of lines"):
        translator.translate_batch("3rd of March 2021")
    with pytest.raises(heed.Error, match=r"source\[1\] is list, not str"):
        translator.translate_batch(["a", ["▁a"]])
    with pytest.raises(TypeError):
        translator.translate_batch(["x"], beam=4)


def test_missing_model_directory_raises_heed_error(tmp_path):
    with pytest.raises(heed.Error, match="nothing-here"):
        heed.Translator(tmp_path / "nothing-here")


def test_translator_shares_a_loaded_model_and_reports_progress():
    model = heed.Model(MARIAN)
    seen = []
    t = heed.Translator(MARIAN, model=model, max_batch_size=4, progress=lambda done, total: seen.append((done, total)))
    t.translate_batch(lines(MARIAN / "test.src", 10))
    assert seen[-1] == (10, 10) and len(seen) == 3


def test_generator_on_token_ids_equals_the_translator(translator):
    source = lines(MARIAN / "test.src", 8)
    generator = heed.Generator(heed.Model(MARIAN))
    results = generator.generate_batch([translator.encode(s) for s in source], beam_size=3, num_hypotheses=2)
    texts = [translator.decode(r.sequences_ids[0]) for r in results]
    assert texts == [r.hypotheses[0] for r in translator.translate_batch(source, beam_size=3)]
    assert all(len(r.sequences_ids) == 2 and len(r.scores) == 2 for r in results)


def test_captions_equal_pytorchs_and_the_tool():
    rows = [line.split("\t") for line in lines(PICTURES / "captions.tsv", 9)[1:]]
    images = [PICTURES / image for image, _, _ in rows]
    captioner = heed.Captioner(EXAMPLES / "shapes-caption")
    results = captioner.caption_batch(images)
    assert [r.hypotheses[0] for r in results] == [pytorch for _, _, pytorch in rows]
    beam = captioner.caption_batch(images[:3], beam_size=3)
    assert [r.hypotheses[0] for r in beam] == heed_tool("caption", EXAMPLES / "shapes-caption", *images[:3],
                                                        "--beam", 3).splitlines()


def test_caption_attention_covers_the_image_grid(tmp_path):
    captioner = heed.Captioner(EXAMPLES / "shapes-caption")
    [r] = captioner.caption_batch([PICTURES / "000.png"], return_attention=True)
    a = r.attention[0]
    assert a.shape == (len(r.words[0]), r.grid_height, r.grid_width)
    np.testing.assert_allclose(a.reshape(len(a), -1).sum(axis=1), 1.0, rtol=1e-4)
    html = heed.attention_html([r], tmp_path / "caption.html")
    assert html.count("<img") == 1 + len(r.words[0])  # the picture, then each word over it
    features = np.zeros((1, r.grid_height * r.grid_width, 2048), np.float32)
    with pytest.raises(heed.Error, match="features"):
        captioner.caption_features(features[:, :, :7])
    assert captioner.image_tensor(PICTURES / "000.png").shape[0] == 3
    with pytest.raises(heed.Error, match="missing.png"):
        captioner.caption_batch([tmp_path / "missing.png"])


def test_answers_equal_pytorchs_and_the_tool(tmp_path):
    rows = [line.split("\t") for line in lines(PICTURES / "questions.tsv", 13)[1:]]
    vqa = heed.QuestionAnswerer(EXAMPLES / "shapes-vqa")
    results = vqa.answer_batch([(PICTURES / image, question) for image, question, _, _ in rows], top_k=2)
    assert [r.answer for r in results] == [pytorch for _, _, _, pytorch in rows]
    image, question = PICTURES / rows[0][0], rows[0][1]
    one = vqa.answer(image, question, top_k=2)
    tool = heed_tool("vqa", EXAMPLES / "shapes-vqa", image, question, "--top", 2).split("\t")
    assert [one.answers[0].text, f"{one.answers[0].probability:.4f}", one.answers[1].text] == tool[:3]
    assert one.attention.shape[1:] and one.attention.ndim == 3
    html = heed.attention_html([one], tmp_path / "vqa.html")
    assert html.count("<img") == 1 + one.attention.shape[0]
    ids, tokens, unknown = vqa.encode("what colour is the zorblax?")
    assert "zorblax" in unknown and len(ids) == len(tokens)
    with pytest.raises(heed.Error, match="top_k"):
        vqa.answer(image, question, top_k=0)


def test_captured_attention_of_a_graph(tmp_path):
    model = heed.Model(EXAMPLES / "attention" / "attention.json", capture_attention=True)
    rng = np.random.default_rng(0)
    out = model.session().run({"query": rng.standard_normal((1, 3, 16), dtype=np.float32),
                               "keys": rng.standard_normal((1, 5, 16), dtype=np.float32)})
    captured = {k: v for k, v in out.items() if k.startswith("attention/")}
    assert captured
    html = heed.attention_html(captured, tmp_path / "graph.html", target_tokens=["a", "b", "c"])
    assert html.count("<img") >= len(captured)


def test_captions_from_features_and_from_the_generator_equal_the_pictures():
    captioner = heed.Captioner(EXAMPLES / "shapes-caption")
    images = [PICTURES / f"00{i}.png" for i in range(3)]
    want = captioner.caption_batch(images)
    batch = np.stack([captioner.image_tensor(p) for p in images])
    model = heed.Model(EXAMPLES / "shapes-caption")
    assert model.outputs_of("encoder")[0].name == "features"
    features = model.session(graph="encoder").run({"image": batch})["features"]  # [N, grid * grid, encoder_dim]
    got = captioner.caption_features(features)
    assert [r.hypotheses for r in got] == [r.hypotheses for r in want] and got[0].image is None
    np.testing.assert_allclose([r.scores[0] for r in got], [r.scores[0] for r in want], rtol=1e-5)
    generated = heed.Generator(model).generate_batch({"image": batch})
    np.testing.assert_allclose([r.scores[0] for r in generated], [r.scores[0] for r in want], rtol=1e-5)
    assert [len(r.sequences_ids[0]) for r in generated] == [len(r.words[0]) for r in want]
    assert captioner.caption(images[0]) == want[0].hypotheses[0]


def test_answers_from_features_equal_the_pictures():
    vqa = heed.QuestionAnswerer(EXAMPLES / "shapes-vqa")
    image, question = PICTURES / "000.png", "what color is the triangle?"
    want = vqa.answer(image, question, top_k=3)
    model = heed.Model(EXAMPLES / "shapes-vqa")
    features = model.session(graph="image_features").run({"image": vqa.image_tensor(image)[None]})["features"]
    [got] = vqa.answer_features(features, [question], top_k=3)
    assert [a.text for a in got.answers] == [a.text for a in want.answers] and got.image is None
    np.testing.assert_allclose([a.probability for a in got.answers], [a.probability for a in want.answers], rtol=1e-5)
    np.testing.assert_allclose(got.attention, want.attention, rtol=1e-5, atol=1e-7)
