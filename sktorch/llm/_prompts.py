"""The default prompts of the LLM classifiers."""

__all__ = ["DEFAULT_PROMPT_ZERO_SHOT", "DEFAULT_PROMPT_FEW_SHOT"]

DEFAULT_PROMPT_ZERO_SHOT = (
    "You are a text classifier. Classify the text below as one of these labels: "
    "{labels}.\n\nText: {text}\n\nLabel: "
)
DEFAULT_PROMPT_FEW_SHOT = (
    "You are a text classifier. Classify the text as one of these labels: {labels}.\n\n"
    "{examples}Text: {text}\n\nLabel: "
)
