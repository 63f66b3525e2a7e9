"""`generated_logprobs` against transformers itself: the mean of a row's transition scores, cut
after its end token, is the beam score times length ** length_penalty over the length.

Separate from test_quality.py because importing torch takes seconds."""

from __future__ import annotations

import pytest

from newsmt.engines.scores import generated_logprobs, mean_token_logprob

EOS, PAD = 0, 31


@pytest.mark.slow
@pytest.mark.parametrize(
    ("eos_bias", "length_penalty", "min_new"),
    [(1.5, 1.0, 3), (1.5, 0.6, 2), (1.5, 2.0, 0), (0.0, 1.0, 0)],
)
def test_transition_scores_average_to_the_beam_score(
    eos_bias: float, length_penalty: float, min_new: int
) -> None:
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=32,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=PAD,
        forced_eos_token_id=None,
    )
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        model.final_logits_bias[0, EOS] = eos_bias  # 0.0: every row runs to the bound
    inputs = torch.tensor([[5, 6, 7, EOS], [8, 9, EOS, PAD]])
    with torch.inference_mode():
        out = model.generate(
            input_ids=inputs,
            attention_mask=(inputs != PAD).long(),
            num_beams=4,
            max_new_tokens=10,
            min_new_tokens=min_new,
            length_penalty=length_penalty,
            early_stopping=True,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
        )
        scores = model.compute_transition_scores(out.sequences, out.scores, out.beam_indices)
    width = scores.shape[1]
    for row in range(inputs.shape[0]):
        kept = generated_logprobs(scores[row].tolist(), out.sequences[row, -width:].tolist(), {EOS})
        n = len(kept)
        assert (n < 10) == (eos_bias > 0)
        expected = float(out.sequences_scores[row]) * n**length_penalty / n
        assert mean_token_logprob(kept) == pytest.approx(expected, abs=1e-5)
