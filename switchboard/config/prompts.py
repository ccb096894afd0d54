"""Names of the prompts that ship with switchboard.

A config may use any of these names without defining them under ``prompts:``; the media
layer generates the WAV files (English, Ukrainian, Russian). Users override any of them,
or add their own, with ``prompts: {name: file.wav}``.
"""

from __future__ import annotations

DEFAULT_PROMPTS: frozenset[str] = frozenset(
    {
        "greeting",  # "Hello, thank you for calling."
        "thanks_for_waiting",  # "Thank you for waiting, an operator will answer shortly."
        "queue_position",  # "You are number ..." (the number is composed from fragments)
        "queue_eta",  # "The estimated waiting time is ..." (duration from fragments)
        "music_on_hold",  # Music looped while the caller waits in a queue.
        "after_hours",  # "We are closed now; we will call you back when we open."
        "voicemail_greeting",  # "Please leave a message after the tone."
        "voicemail_beep",  # The tone before voicemail recording starts.
        "callback_offer",  # "Press 1 and we will call you back, keeping your place."
        "callback_confirmed",  # "Thank you, we will call you back."
        "ivr_invalid",  # "Sorry, that is not a valid choice."
        "ivr_main",  # A sample main menu: "For sales press 1, for support press 2."
        "whisper_waited",  # To the agent before the bridge: "The caller waited ..."
        "goodbye",  # "Goodbye."
        "closed_holiday",  # "We are closed for the public holiday today."
        "all_busy",  # "All our operators are busy at the moment."
        "advert",  # A sample informational recording played to waiting callers.
    }
)
