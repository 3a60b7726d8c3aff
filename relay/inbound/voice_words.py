"""What the phone line itself says (not the bot), in English and in Spanish, and the words it listens for.

Spanish follows SPANISH.md: *usted*, plain words, "referido", "recepción" /
"alguien de nuestro equipo". This is speech, so every accent is kept (an SMS
would drop á í ó ú). Numbers stay digits: `speakable` says 911 and 988 one
digit at a time, in the language of the `<Say>` ("nueve uno uno").

Each language's line offering the other one is said by a voice of that other
language: an en-US voice mispronounces "español", an es-US one "English". So
the offers are separate sayings, never part of a sentence in the call's language.
"""

from dataclasses import dataclass

from relay.language.languages import Language


@dataclass(frozen=True)
class VoiceWords:
    """Every system phrase of a call in one language. `{clinic}` is the clinic's name."""

    greeting: tuple[str, str]
    held_by_staff: str
    withheld_number: str
    connecting: str
    hold: str
    not_heard: str
    not_caught: str
    say_again: str
    keypad_hint: str
    anything_else: str
    still_not_understood: str
    rasa_down: str
    rasa_slow: str
    no_answer: str
    no_answer_withheld: str
    emergency: dict[str, str]
    # The other language, offered in that language at the greeting.
    other_language_offer: str
    # What the bot gets when the caller takes that offer on the keypad: its own change_language path.
    other_language_request: str
    other_language_digit: str
    # Recognisable words for the speech recogniser (Twilio `hints`), the bot's vocabulary.
    hints: str


ENGLISH = VoiceWords(
    greeting=(
        "Thank you for calling {clinic}. If this is a medical emergency, hang up and dial 911. "
        "To talk to a person at any time, press 0.",
        "I am the clinic's automated assistant. I can tell you where your referral stands, and confirm, "
        "reschedule or cancel an appointment. How can I help you today?",
    ),
    held_by_staff=(
        "Thank you for calling {clinic}. A member of our team is looking after your request. "
        "Please hold while I connect you."
    ),
    withheld_number=(
        "Thank you for calling {clinic}. Your number is withheld, so I cannot look up your records. "
        "Please hold while I connect you with our team."
    ),
    connecting="Please hold while I connect you with our team.",
    hold="Please hold.",
    not_heard="Sorry, I did not hear anything.",
    not_caught="Sorry, I did not catch that.",
    say_again="Could you say that again?",
    keypad_hint="You can also use your phone's keypad, or press 0 to talk to a person.",
    anything_else="Is there anything else I can help you with? If you are done, you can hang up.",
    still_not_understood="Sorry, I still could not understand. Please hold while I connect you with our team.",
    rasa_down="Sorry, I cannot look that up right now. Please hold while I connect you with our team.",
    rasa_slow=(
        "Sorry, I could not look that up in time. A member of our team will call you back soon. "
        "If this is an emergency, hang up and dial 911. Goodbye."
    ),
    no_answer=(
        "Sorry, no one on our team could take your call right now. We will call you back as soon as we can. "
        "If this is an emergency, hang up and dial 911. Goodbye."
    ),
    no_answer_withheld=(
        "Sorry, no one on our team could take your call right now. Please call again during our office hours. "
        "If this is an emergency, hang up and dial 911. Goodbye."
    ),
    emergency={
        "medical": (
            "If this is a medical emergency, hang up now and dial 911. Do not wait on this line. "
            "Our team has been alerted. If you cannot hang up and call, stay on the line and I will connect you."
        ),
        "mental_health": (
            "You are not alone. Please hang up and call or text 988, the Suicide and Crisis Lifeline, at any "
            "time. If you are in immediate danger, hang up and dial 911. Our team has been alerted. "
            "If you stay on the line, I will connect you with our team."
        ),
    },
    other_language_offer="Para español, oprima 2 o diga español.",
    other_language_request="español",
    other_language_digit="2",
    hints=(
        "confirm, reschedule, cancel, referral, appointment, representative, talk to a person, front desk, "
        "date of birth, yes, no, morning, afternoon, next week, Monday, Tuesday, Wednesday, Thursday, Friday, "
        "español, Spanish"
    ),
)

SPANISH = VoiceWords(
    greeting=(
        "Gracias por llamar a {clinic}. Si tiene una emergencia médica, cuelgue y marque 911. "
        "Para hablar con una persona en cualquier momento, oprima 0.",
        "Soy el asistente automático de la clínica. Puedo decirle cómo va su referido, y confirmar, "
        "cambiar o cancelar una cita. ¿En qué le puedo ayudar hoy?",
    ),
    held_by_staff=(
        "Gracias por llamar a {clinic}. Alguien de nuestro equipo está atendiendo su solicitud. "
        "Por favor, espere mientras le comunico."
    ),
    withheld_number=(
        "Gracias por llamar a {clinic}. Su número está oculto, así que no puedo buscar sus datos. "
        "Por favor, espere mientras le comunico con nuestro equipo."
    ),
    connecting="Por favor, espere mientras le comunico con nuestro equipo.",
    hold="Un momento, por favor.",
    not_heard="Disculpe, no escuché nada.",
    not_caught="Disculpe, no le entendí.",
    say_again="¿Me lo puede repetir, por favor?",
    # "u oprimir": "o" becomes "u" before a word that starts with an o sound.
    keypad_hint="También puede usar el teclado de su teléfono, u oprimir 0 para hablar con una persona.",
    anything_else="¿Hay algo más en lo que le pueda ayudar? Si ya terminó, puede colgar.",
    still_not_understood=(
        "Disculpe, todavía no le entiendo. Por favor, espere mientras le comunico con nuestro equipo."
    ),
    rasa_down=(
        "Disculpe, en este momento no puedo consultar eso. Por favor, espere mientras le comunico con nuestro equipo."
    ),
    rasa_slow=(
        "Disculpe, no pude consultar eso a tiempo. Alguien de nuestro equipo le devolverá la llamada pronto. "
        "Si es una emergencia, cuelgue y marque 911. Adiós."
    ),
    no_answer=(
        "Disculpe, en este momento nadie de nuestro equipo pudo atender su llamada. Le devolveremos la llamada "
        "lo antes posible. Si es una emergencia, cuelgue y marque 911. Adiós."
    ),
    no_answer_withheld=(
        "Disculpe, en este momento nadie de nuestro equipo pudo atender su llamada. Por favor, vuelva a llamar "
        "en nuestro horario de atención. Si es una emergencia, cuelgue y marque 911. Adiós."
    ),
    emergency={
        "medical": (
            "Si tiene una emergencia médica, cuelgue ahora y marque 911. No espere en esta línea. "
            "Ya avisamos a nuestro equipo. Si no puede colgar y llamar, quédese en la línea y le comunico."
        ),
        # 988 answers in Spanish too: its own menu offers it on 2.
        "mental_health": (
            "No está solo ni sola. Por favor, cuelgue y llame o mande un mensaje de texto al 988, la Línea de "
            "Prevención del Suicidio y Crisis, a cualquier hora. Al llamar, oprima 2 para español. "
            "Si está en peligro inmediato, cuelgue y marque 911. Ya avisamos a nuestro equipo. "
            "Si se queda en la línea, le comunico con nuestro equipo."
        ),
    },
    other_language_offer="For English, press 1 or say English.",
    other_language_request="English",
    other_language_digit="1",
    hints=(
        "sí, no, confirmar, cambiar, cancelar, cita, referido, referencia, hablar con una persona, recepción, "
        "fecha de nacimiento, mañana, tarde, lunes, martes, miércoles, jueves, viernes, la próxima semana, "
        "English, inglés"
    ),
)

WORDS: dict[Language, VoiceWords] = {Language.EN: ENGLISH, Language.ES: SPANISH}
# The BCP-47 tag of <Say> and <Gather>: US voices and recognisers, for US callers.
TWILIO_LANGUAGE: dict[Language, str] = {Language.EN: "en-US", Language.ES: "es-US"}


def words_for(language: Language) -> VoiceWords:
    return WORDS[language]
