"""BIG-Bench Hard's tasks carry no description of their own: the one-line description of
each (written for this project) is the prompt a search starts from on that task, unless
--initial_prompt gives another. Each says what the task asks and in what form it is
answered, as a user who sets the task would."""

from __future__ import annotations

DESCRIPTIONS: dict[str, str] = {
    "boolean_expressions": "Work out whether the Boolean expression is True or False.",
    "causal_judgement": "Read the story and decide how a typical person would answer the "
    "question about what caused what. Answer Yes or No.",
    "date_understanding": "Work out the date the question asks for and pick the option "
    "that gives it.",
    "disambiguation_qa": "Decide what the ambiguous pronoun in the sentence refers to, or "
    "whether it is ambiguous, and pick the matching option.",
    "dyck_languages": "Close the open brackets of the sequence: give only the closing "
    "brackets that complete it, in order.",
    "formal_fallacies": "Decide whether the argument is deductively valid or invalid, "
    "given its premises as stated. Answer valid or invalid.",
    "geometric_shapes": "Name the shape that the SVG path draws, choosing from the options.",
    "hyperbaton": "Pick the sentence whose adjectives come in the natural English order.",
    "logical_deduction_five_objects": "Use the clues about the five objects' order to pick "
    "the statement that must be true.",
    "logical_deduction_seven_objects": "Use the clues about the seven objects' order to "
    "pick the statement that must be true.",
    "logical_deduction_three_objects": "Use the clues about the three objects' order to "
    "pick the statement that must be true.",
    "movie_recommendation": "Pick the film that is most like the films listed.",
    "multistep_arithmetic_two": "Compute the value of the arithmetic expression; give the number.",
    "navigate": "Decide whether following the steps brings you back to where you started. "
    "Answer Yes or No.",
    "object_counting": "Count the items of the kind the question asks about; give the number.",
    "penguins_in_a_table": "Answer the question about the penguins in the table, choosing "
    "from the options.",
    "reasoning_about_colored_objects": "Answer the question about the coloured objects "
    "described, choosing from the options.",
    "ruin_names": "Pick the edit of the artist's or film's name that makes a joke of it.",
    "salient_translation_error_detection": "Compare the German source with its English "
    "translation and pick the kind of error the translation makes.",
    "snarks": "Pick the sentence that is sarcastic.",
    "sports_understanding": "Decide whether the sentence about sport is plausible. Answer "
    "yes or no.",
    "temporal_sequences": "From the person's day as described, pick the time slot in "
    "which they could have gone to the place asked about.",
    "tracking_shuffled_objects_five_objects": "Follow the swaps among the five people and "
    "pick what the person asked about has at the end.",
    "tracking_shuffled_objects_seven_objects": "Follow the swaps among the seven people and "
    "pick what the person asked about has at the end.",
    "tracking_shuffled_objects_three_objects": "Follow the swaps among the three people and "
    "pick what the person asked about has at the end.",
    "web_of_lies": "Work out whether the last person named tells the truth. Answer Yes or No.",
    "word_sorting": "Sort the words alphabetically; give them in order, separated by spaces.",
}


def bbh_description(task: str) -> str:
    """The description of BIG-Bench Hard task `task` (a file's stem), or "" if it is none."""
    return DESCRIPTIONS.get(task, "")
