"""Weighted cues for each reply intent, English and Spanish. Pure and deterministic.

The cues are written from how debtors write (lowercase, no punctuation, typos, SMS shorthand:
``u``, ``ur``, ``pls``, ``tmrw``, ``w/``; Spanish with or without accents), not from any one
file of examples. Text reaches them folded by :func:`domain.replies.text.normalize`.

A cue marked negatable does not count when a negation (``not``, ``won't``, ``can't``, ``no``,
``nunca``...) stands among the three words before it in the same clause: "I'm not paying
this" is no promise. Refusals and inabilities have cues of their own (dispute, hardship).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    weight: float
    negatable: bool = False


def _c(weight: float, pattern: str, negatable: bool = False) -> Cue:
    return Cue(re.compile(pattern), weight, negatable)


_I = r"(?:i|me|we|i'?m|im|i'?ll|ill|i\s+will|we'?ll|we\s+will|i'?d|id|i\s+can|we\s+can)"
_MONEY = r"(?:\$\s?\d|\d+\s?(?:dollars|bucks|usd|dolares|dlls))"
_WD = (
    r"(?:mon(?:day)?|tue(?:s|sday)?|wed(?:s|nesday)?|thu(?:r|rs|rsday)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?|lunes|martes|miercoles|jueves|viernes|sabado|domingo)"
)
_WHEN = (
    rf"(?:on|by|next|this|in\s+(?:\d|a\s|an\s|a\s+few|a\s+couple|two|three|four|few)|"
    rf"at\s+the\s+end|end|tomorrow|tmrw|tmr|2moro|tonight|the\s+\d|"
    rf"\d{{1,2}}/\d|{_WD}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|friday)"
)
_CONTACT = (
    r"(?:call(?:ing|s)?|text(?:ing|s)?|txt(?:ing)?|contact(?:ing)?|messag(?:e|ing|es)|"
    r"msg(?:ing|s)?|email(?:ing|s)?|e-?mail|writ(?:e|ing)|send(?:ing)?\s+(?:me\s+)?(?:texts|"
    r"messages|emails|letters|msgs)|har+as+(?:ing|ment)?|bother(?:ing)?|bugging|spamm?(?:ing)?)"
)

CUES: dict[str, list[Cue]] = {
    "attorney": [
        _c(
            4,
            r"\b(?:attorn[ea]?ys?|attny|atty|attorny|lawyers?|lawer|abogad[oa]s?|"
            r"licenciad[oa]\s+que|(?:retained|hired|have|got|my|our)\s+(?:legal\s+)?counsel)\b",
            True,
        ),
        _c(
            4,
            r"\b(?:legal\s+(?:counsel|representation|representative|aid)|represented\s+by|"
            r"my\s+counsel|law\s+(?:firm|office|offices|group)|\w+\s+law\b(?!\s+(?:says|allows))|"
            r"llp\b|esq\b|pllc\b|legal\s+department\s+of\s+my|"
            r"\w+\s+legal\s+(?:group|services|team|associates|clinic|llc|pc)\b|legal\s+aid|"
            r"bufete|despacho\s+(?:de\s+abogados|juridico|legal)|asesor(?:ia)?\s+legal|"
            r"(?:representante|representacion|ayuda)\s+legal)",
        ),
        _c(
            3.5,
            r"\b(?:bankruptcy|bankrupt|bankrupcy|bankruptsy|bancarrota|quiebra|"
            r"chapter\s+(?:7|13|seven|thirteen)|"
            r"capitulo\s+(?:7|13)|ch\.?\s?(?:7|13)\b)",
        ),
        _c(2, r"\b(?:see\s+you\s+in\s+court|sue\s+(?:you|u)|suing|lawsuit|demanda(?:r|rlos))\b"),
        # A debt discharged in a bankruptcy is a dispute (not owed), not a pending case.
        _c(-3.5, r"\b(?:discharg\w*|included\s+in\s+(?:my|the)\s+(?:bankruptcy|ch))"),
    ],
    "stop": [
        _c(
            4,
            rf"\b(?:stop|quit|cease|end)\s+(?:all\s+)?(?:the\s+|these\s+|your\s+|ur\s+)?{_CONTACT}",
        ),
        _c(
            4,
            rf"\b(?:do\s*n'?t|dont|do\s+not|never|no\s+more)\s+(?:ever\s+)?(?:{_CONTACT})\s+"
            r"(?:me|this|my|us|again|here)",
        ),
        _c(
            4,
            r"\b(?:cease\s+and\s+desist|cease\s+(?:all\s+)?(?:communication|contact)|"
            r"unsubscribe|unsub|opt\s?-?\s?out|optout|stop\s?all|revoke\s+(?:my\s+)?consent)\b",
        ),
        _c(
            3.5,
            r"\b(?:(?:remove|delete|erase)\s+(?:me|my\s+(?:number|name|email|info|phone|cell|"
            r"address|contact)|this\s+(?:number|email|phone|address|email\s+address))|"
            r"take\s+(?:me|my\s+(?:number|name|email|info|phone)|this\s+number)\s+(?:from|off)|"
            r"(?:off|from)\s+(?:your|ur|the|this)\s+(?:\w+\s+)?list)\b",
        ),
        _c(
            4,
            r"\b(?:(?:do\s*n'?t|dont|do\s+not|no\s+longer)\s+(?:want|wish)\s+to\s+(?:receive|get|"
            r"be\s+(?:contacted|called|texted|emailed|messaged))|no\s+(?:further|more)\s+"
            r"(?:communications?|contact|correspondence|calls|emails|texts|letters)|"
            r"(?:not|never)\s+(?:to\s+)?(?:call|contact|text|email|message)\s+(?:me|her|him|them|"
            r"us)\s+(?:again|anymore|any\s+more)|(?:asked|requested|wants?|told\s+(?:you|us))\s+"
            r"(?:that\s+)?(?:we|you|u)\s+(?:not|stop|no\s+longer|never))\b",
        ),
        _c(
            3.5,
            r"\b(?:no\s+more\s+(?:texts|txts|msgs|messages|calls|emails|contact)|"
            r"leave\s+me\s+(?:the\s+hell\s+)?alone|lose\s+(?:my|this)\s+number)\b",
        ),
        _c(
            3.5,
            r"\b(?:cancel|block)\s+(?:these|the|all|this|your|ur)?\s*(?:texts|txts|messages|"
            r"msgs|reminders|notifications|alerts|sms|emails|calls)\b",
        ),
        _c(3.5, r"\b(?:quit|stop)\s+(?:sending|texting|calling|it|this)\b"),
        _c(
            4,
            r"\b(?:no|ya\s+no)\s+me\s+(?:vuelvan\s+a\s+|sigan\s+)?(?:llamen|llame|escriban|manden|"
            r"envien|contacten|molesten|marquen|textee?n|llamar|escribir|mandar|enviar|"
            r"contactar|molestar|llamando|escribiendo|mandando|molestando)\b",
        ),
        _c(
            4,
            r"\bno\s+(?:me|la|lo|los|las|nos|le|les)\s+(?:vuelvan|vuelva|sigan|siga)\s+"
            r"(?:a\s+)?(?:llamar|escribir|mandar|enviar|contactar|molestar|marcar|llamando|"
            r"escribiendo|molestando)|\bque\s+(?:ya\s+)?no\s+(?:la|lo|le|les|me|los|las)\s+"
            r"(?:llamen|contacten|molesten|escriban|marquen|busquen)\b|\b(?:eliminen|borren|"
            r"quiten|saquen)\s+(?:mi|este|su)\s+(?:numero|correo|nombre)|\bde\s+su\s+lista\b|"
            r"\b(?:ya\s+)?no\s+(?:llamen|escriban|manden|marquen|molesten|envien)\b|"
            r"\b(?:do\s*n'?t|dont|do\s+not|no\s+longer)\s+consent\b|\bwithdraw\s+(?:my\s+)?consent",
        ),
        _c(
            4,
            r"\b(?:dejen?|deje|paren?|pare)\s+de\s+(?:llamar|escribir|mandar|enviar|molestar|"
            r"textear|acosar)",
        ),
        _c(
            3.5,
            r"\b(?:no\s+quiero\s+(?:recibir\s+)?(?:mas\s+)?(?:mensajes|llamadas|correos)|"
            r"ya\s+basta|darme\s+de\s+baja|dar\s+de\s+baja|bajen\s+mi\s+numero|"
            r"borren\s+mi\s+numero|no\s+mas\s+(?:mensajes|llamadas))\b",
        ),
        _c(2.5, r"^\W*(?:alto|baja|stop|para|basta|parar)\W*$"),
        _c(
            3,
            r"(?:^|[.!?\n,]\s*)(?:please\s+|pls\s+|plz\s+|just\s+)?stop(?:\s+(?:it|now|please|pls))?"
            r"\s*(?:[.!?\n,]|$)",
        ),
        _c(1.5, r"\bstop\b(?!\s+(?:at|by|in|over|off|on|and\s+pay|paying))"),
    ],
    "dispute": [
        _c(4, r"\b(?:i\s+)?disput(?:e|ing|ed)\b|\bdisputa\b|\bdisputo\b"),
        _c(
            3,
            r"\b(?:validat(?:e|ion)|verif(?:y|ication)|debt\s+validation|"
            r"proof\s+(?:of|that|i)|(?:need|send|show|want|get)\s+(?:me\s+)?(?:some\s+)?proof|prove\s+(?:it|that|i|this)|itemi[sz]ed|itemi[sz]ation)\b",
        ),
        _c(
            4,
            r"\b(?:not|isn'?t|is\s+not|aint|ain'?t)\s+(?:my|mine|our)\b"
            r"(?!\s+(?:problem|fault|number|phone|name|house|home|cell|work|job|landline|email|"
            r"address|wife|husband|mom|dad|mother|father|son|daughter|kid|business|concern|"
            r"intention|plan|choice|first|main|only)\b)",
        ),
        _c(
            3.5,
            r"\b(?:never\s+(?:had|opened|signed|owed|heard\s+of(?!\s+(?:a|an|anyone|anybody|nobody|him|her)\b)|used|received|got|ordered|"
            r"authorized)|i\s+do\s*n'?t\s+owe|dont\s+owe|do\s+not\s+owe|owe\s+nothing|"
            r"nothing\s+(?:to|i)\s+owe|(?:do\s*n'?t|dont|do\s+not)\s+(?:believe|think)\s+"
            r"(?:i|we)\s+owe|charged\s+(?:me\s+|us\s+)?(?:twice|double|two\s+times|2x)|"
            r"once\s+(?:you|u)\s+(?:correct|fix|adjust|remove)|(?:correct|fix)\s+(?:the|my|this|"
            r"your|ur)\s+(?:balance|amount|bill|account|records|error|mistake)|"
            r"check\s+(?:your|ur)\s+records|(?:was|been|already|it\s+was)\s+settled|"
            r"(?:way\s+|much\s+|too\s+)+(?:high|much)|owed?\s+(?:only\s+)?\$?\d[\d,.]*\s*,?\s*not\s+\$?\d|"
            r"(?:el\s+)?(?:monto|saldo|cobro|cantidad)\s+(?:es\s+|esta\s+)?(?:mal|equivocad\w*|incorrect\w*|"
            r"muy\s+alto))\b",
        ),
        _c(
            3.5,
            r"\b(?:wrong\s+(?:amount|balance|bill|total|charge)|(?:amount|balance|bill|charge|"
            r"total|fees?)\s+(?:is|are|was|isn'?t|aren'?t)\s+(?:wrong|incorrect|not\s+right|"
            r"not\s+correct|off)|incorrect|not\s+(?:right|correct|accurate)|"
            r"isn'?t\s+(?:right|correct|accurate)|inaccurate|overcharg\w*|double\s+charg\w*|"
            r"bogus|fraud\w*|identity\s+theft|stolen\s+identity|(?<!is\sthis\sa\s)(?<!is\sit\sa\s)scam|"
            r"mistake|error\s+in)\b",
        ),
        _c(
            3,
            r"\b(?:records?\s+(?:is|are)\s+wrong|already\s+(?:been\s+)?paid\s+(?:this|that|it)|"
            r"paid\s+(?:this|that|it)\s+(?:off\s+)?(?:back\s+)?(?:in|last|years?|months?|when|"
            r"already|a\s+while)|paid\s+off\s+the\s+balance|paid\s+it\s+off\s+(?:years|months|"
            r"already|when))\b",
        ),
        _c(
            4,
            r"\bpaid\b.{0,40}\b(?:back\s+in|months?\s+ago|years?\s+ago|last\s+(?:year|month)|"
            r"when\s+i|before|already|twice|not\s+paying|in\s+(?:jan|feb|mar|apr|may|jun|jul|aug|"
            r"sep|oct|nov|dec)[a-z]*\b(?!\s+\d))",
        ),
        _c(
            3.5,
            r"\b(?:covered\s+by|insurance\s+(?:paid|covered|adjusted|should)|charity\s+care|"
            r"cancell?ed\s+(?:in\s+writing|it|that|the|my|this)|returned\s+(?:it|the)|"
            r"billing\s+(?:the|me\s+for)|(?:paid|covered)\s+by\s+(?:my\s+|the\s+)?(?:insurance|"
            r"medicaid|medicare|employer)|not\s+what\s+i\s+owe|i\s+(?:only\s+)?owed?\s+(?:less|"
            r"only|nothing)|pre-?adjustment|statute|(?:too|\d+\s+(?:years|yrs))\s+old|"
            r"time\s*-?\s*barred|not\s+responsible\s+for|discharg\w*|included\s+in\s+(?:my|the)\s+"
            r"bankruptcy|prescri(?:to|ta|bio|pcion)|ya\s+(?:esta|estaba)\s+(?:arreglad|saldad)\w*)\b",
        ),
        _c(
            3,
            r"\b(?:not|never|n'?t|refuse\s+to|no\s+way\s+i'?m)\s+(?:going\s+to\s+|gonna\s+|be\s+)?"
            r"pay(?:ing)?\b.{0,40}\b(?:again|until|unless|twice|because|cause|cuz|this|that|it|"
            r"anything)\b",
        ),
        _c(
            2,
            r"\b(?:won'?t|wont|will\s+not|refuse\s+to|not\s+going\s+to|not\s+gonna|am\s+not|"
            r"i'?m\s+not|im\s+not)\s+(?:be\s+)?pay(?:ing)?\b",
        ),
        _c(
            3,
            r"\b(?:(?:if|when|once|after)\s+(?:you|u)\s+(?:send|show|prove|provide|can\s+show|"
            r"can\s+prove)|"
            r"(?:in|something\s+in)\s+writing|written\s+(?:proof|notice|statement)|"
            r"original\s+(?:contract|signed))\b",
        ),
        _c(
            4,
            r"\b(?:no\s+es\s+mi[ao]|no\s+son\s+mi[ao]s|no\s+(?:le\s+)?debo|no\s+reconozco|"
            r"nunca\s+(?:tuve|abri|firme|pedi|use|contrate|saque)|no\s+es\s+mi\s+deuda|"
            r"esa\s+deuda\s+no|no\s+voy\s+a\s+pagar|no\s+pienso\s+pagar|no\s+pagare|"
            r"cobro\s+(?:indebido|equivocado|incorrecto)|(?:monto|cantidad|saldo)\s+"
            r"(?:esta\s+)?(?:equivocad[oa]|incorrect[oa]|mal)|ya\s+(?:lo\s+|la\s+)?pague\s+"
            r"(?:eso|esa|esto|hace)|comprueben|demuestren|fraude|robo\s+de\s+identidad)",
        ),
        _c(
            2.5,
            r"\b(?:never\s+heard\s+of(?!\s+(?:a|an|anyone|anybody|nobody|him|her)\b)|"
            r"don'?t\s+recogni[sz]e|dont\s+recogni[sz]e|"
            r"do\s+not\s+recogni[sz]e|who\s+says\s+i\s+owe|why\s+do\s+i\s+owe)\b",
        ),
    ],
    "wrong_person": [
        _c(
            4.5,
            r"\b(?:wrong\s+(?:number|person|guy|girl|lady|man|woman|#|num|name|contact|"
            r"individual)(?![a-z])|you\s+have\s+the\s+wrong|u\s+have\s+the\s+wrong|"
            r"numero\s+equivocado|persona\s+equivocada|se\s+equivoc\w+\s+de\s+(?:numero|"
            r"persona))",
        ),
        _c(
            4,
            r"\b(?:don'?t|dont|do\s+not|never)\s+know\s+(?:any(?:one|body)|who|a|an|this|"
            r"that|him|her|them|no(?:one|body)|[a-z]+\s+[a-z]+$)|\bno\s+one\s+(?:named|by)|"
            r"nobody\s+(?:named|by|here)|no\s+such\s+person|no\s+(?:conozco|conocemos)|"
            r"no\s+se\s+quien\s+es|no\s+vive\s+aqui|no\s+es\s+(?:mi\s+numero|el\s+numero)\b",
        ),
        _c(
            4,
            r"\b(?:this\s+is\s+not|this\s+isn'?t|i'?m\s+not|im\s+not|i\s+am\s+not|not)\s+"
            r"(?!(?:my|mine|paying|going|able|sure|the\s+amount|right|correct|ready|refusing|"
            r"responsible|a|an|the|gonna|interested|working|trying|even|happy|ok|okay)\b)"
            r"[a-z]+(?:'s)?\s*(?:\.|,|!|$|phone|number|#)",
        ),
        _c(
            3,
            r"\b(?:who'?s|who\s+is|quien\s+es)\s+(?!(?:this|that|it|he|she|calling|texting|"
            r"este|esta|ese|esa|usted)\b)[a-z]+\s*\?",
        ),
        _c(
            3.5,
            r"\b(?:new\s+number|recycled|got\s+this\s+number|had\s+(?:this|the)\s+number|"
            r"this\s+(?:number|phone)\s+(?:belonged|used\s+to\s+belong|was)|not\s+(?:this|my)\s+"
            r"number|no\s+relationship|not\s+related|numero\s+nuevo|(?:does\s*n'?t|dont|does\s+not|"
            r"no\s+longer)\s+lives?\s+here|belongs\s+to\s+my|not\s+my\s+name|no\s+es\s+mi\s+"
            r"nombre|no\s+me\s+llamo|ya\s+no\s+vive)\b",
        ),
        _c(
            4.5,
            r"\b(?:passed\s+away|passed\s+on|deceased|died|is\s+dead|my\s+late|"
            r"death\s+certificate|fallecio|fallecido|fallecida|murio|difunto|en\s+paz\s+descanse)",
        ),
        _c(2, r"\bnot\s+me\b|\bno\s+soy\s+(?:yo|esa|ese)"),
        _c(
            4,
            r"\b(?:never\s+heard\s+of\s+(?:a|an|anyone|anybody|nobody|him|her)\b|"
            r"(?:there'?s\s+|there\s+is\s+|there\s+are\s+)?no\s+(?:one|body|"
            r"(?!money|income|job|work|way|time|one\b|problem|cash|funds)[a-z]+)\s+"
            r"(?:(?:by|named|called)\s+(?:that\s+name\s+)?)?(?:here|at\s+this\s+(?:number|address|"
            r"phone|house))\b|by\s+(?:that|this)\s+name\b|"
            r"aqui\s+no\s+(?:vive|hay|trabaja|existe|esta)|no\s+(?:vive|hay)\s+(?:ningun[oa]?|nadie)|"
            r"yo\s+no\s+soy\b|no\s+soy\s+(?:el|la|quien)\b|este\s+numero\s+(?:es|ha\s+sido)\s+mio|"
            r"tengo\s+este\s+numero\s+desde|(?:had|have\s+had)\s+this\s+(?:number|phone)\s+"
            r"(?:for|since))",
        ),
    ],
    "hardship": [
        _c(
            3.5,
            r"\b(?:lost\s+(?:my|our|his|her|their)\s+(?:job|work|income|house|home)|laid\s+off|"
            r"(?:got|was|were|been)\s+(?:fired|let\s+go)|lost\s+everything|"
            r"(?:house|home|apartment|car)\s+(?:flooded|burned|burnt|was\s+destroyed)|"
            r"flood\w*|hurricane|tornado|wildfire|house\s+fire|car\s+accident|"
            r"out\s+of\s+work|unemploy\w*|no\s+(?:job|income|work|money|funds)|jobless|"
            r"between\s+jobs|business\s+(?:closed|failed)|hours\s+(?:got\s+)?cut)\b",
        ),
        _c(
            3.5,
            r"\b(?:can'?t|cant|cannot|can\s+not|unable\s+to|not\s+able\s+to)\s+"
            r"(?:afford|work|make\s+ends)\b",
        ),
        _c(
            2.5,
            r"\b(?:can'?t|cant|cannot|unable\s+to|not\s+able\s+to)\s+(?:pay|do\s+it|do\s+this|"
            r"right\s+now|now)\b",
        ),
        _c(
            3,
            r"\b(?:struggl\w+|hardship|disab\w+|ssi|ssdi|social\s+security|fixed\s+income|"
            r"medical\s+(?:bills|issues|leave|emergency)|hospitali[sz]\w*|in\s+(?:the\s+)?hospital|hospital\s+stay|cancer|chemo|surgery|"
            r"stroke|sick|illness|injur\w+|evict\w*|homeless|living\s+in\s+my\s+car|"
            r"barely|broke\b|behind\s+on|single\s+(?:mom|mother|dad|parent)|feed(?:ing)?\s+my|"
            r"divorce|funeral|paycheck\s+to\s+paycheck|(?:put|place|hold)\s+(?:this|it|the\s+account|my\s+account)\s+on\s+hold|program\s+for|any\s+help|"
            r"financial\s+(?:help|assistance|difficult\w*)|tough\s+times|hard\s+times|"
            r"nothing\s+left|doesn'?t\s+stretch|pregnan\w+|maternity|recovering|rent\s+is\s+due|"
            r"lights\s+on|make\s+ends\s+meet|on\s+my\s+own|money\s+is\s+tight|tight\s+on\s+money)",
        ),
        _c(
            2.5,
            r"\b(?:please\s+be\s+patient|be\s+patient\s+with|bear\s+with\s+me|"
            r"(?:give|need)\s+(?:me\s+)?(?:some|more|a\s+little|a\s+bit\s+of)?\s*time\b"
            r"(?!\s+(?:to|till|until|til|by|on|next))|tenganme\s+paciencia|denme\s+tiempo)",
        ),
        _c(
            3.5,
            r"\b(?:no\s+(?:tengo|tiene|tenemos|tienen)\s+(?:ni\s+para|trabajo|dinero|ingresos|para|"
            r"chamba|empleo|con\s+que|nada)|"
            r"sin\s+(?:trabajo|chamba|empleo|dinero|ingresos)|(?:me|se)\s+quedo?\s+sin|"
            r"desemplead\w+|perd(?:i|io|imos)\s+(?:el|mi|su)\s+(?:trabajo|empleo|casa)|"
            r"(?:me|lo|la|le|nos|los)\s+(?:corrieron|despidieron)|no\s+(?:me|nos|le)\s+alcanza|"
            r"enferm\w+|inundacion|se\s+(?:inundo|quemo)|accidente|hospitalizad\w+|"
            r"(?:en\s+el|del)\s+hospital|no\s+tengo\s+(?:como|con\s+que)\s+pagar|"
            r"incapacidad|discapacidad|no\s+puedo\s+pagar|ahorita\s+no\s+puedo|"
            r"no\s+puedo\s+(?:ahorita|ahora|por\s+ahora)|estoy\s+(?:batallando|mal\s+de\s+dinero)|"
            r"situacion\s+dificil|dificultades)",
        ),
    ],
    "payment_plan": [
        _c(
            4.5,
            r"\$?\d+(?:\.\d\d)?\s*(?:dollars\s+|bucks\s+|dolares\s+)?(?:a|per|each|every|/|al|"
            r"por|cada)\s*(?:month|mo|week|wk|mes|semana|quincena|paycheck|payday|check|"
            r"two\s+weeks|2\s+weeks|other\s+week)\b",
        ),
        _c(
            4,
            r"\b(?:payment\s+(?:plan|arrangement|schedule)|plan\s+de\s+pagos?|pay\s+plan|"
            r"installments?|instal+ments?|abonos?|cuotas|mensualidades|a\s+plazos|"
            r"partial\s+payments|payment\s+arrangements?|plazos|"
            r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|twelve|dos|tres|cuatro|cinco|seis|"
            r"siete|ocho|diez|doce)\s+(?:(?:o|or|to|a)\s+\d+\s+)?(?:monthly\s+|small\s+|equal\s+|"
            r"smaller\s+)?(?:payments|pagos|installments|instalments|cuotas|abonos|mensualidades|"
            r"parts|partes|chunks))\b",
        ),
        _c(
            3,
            r"\b(?:monthly|bi-?weekly|weekly|per\s+(?:month|week|paycheck)|a\s+(?:month|week)|"
            r"/\s?(?:mo|month|wk|week)\b|every\s+(?:month|week|two\s+weeks|2\s+weeks|other\s+week|"
            r"payday|paycheck|check|friday|pay\s+period)|each\s+(?:month|week|payday|paycheck|"
            r"check)|al\s+mes|por\s+mes|cada\s+(?:mes|semana|quincena|15|viernes)|por\s+semana|"
            r"semanal\w*|mensual\w*|quincenal\w*)",
        ),
        _c(
            3,
            r"\b(?:set\s+(?:me\s+)?up\s+(?:on\s+)?(?:a\s+)?(?:plan|payments)|(?:set\s+up|arrange|"
            r"make|do|work\s+out)\s+(?:some\s+)?(?:small\s+)?payments|a\s+little\s+(?:at\s+a\s+time|"
            r"each|every)|spread\s+(?:it|this|the|over|out)|half\s+now|rest\s+(?:later|next)|"
            r"split\s+(?:it|this|the|into)|(?:\$?\d+|half|some|part|a\s+bit|a\s+little)\s+now\s+"
            r"and\s+(?:\$?\d+|the\s+rest|another|more|half|some)|over\s+time|(?:pay|paying)\s+(?:it\s+|this\s+)?off\s+"
            r"(?:monthly|slowly|over)|all\s+at\s+once|in\s+(?:parts|pieces|chunks)|"
            r"can'?t\s+(?:do|pay)\s+(?:it\s+)?(?:all|the\s+whole|in\s+full)|"
            r"poco\s+a\s+poco|en\s+(?:partes|pagos|cuotas|abonos)|pagos\s+(?:de|pequenos|chiquitos)|"
            r"break\s+(?:it|this|that|the\s+\w+)\s+(?:up|down|into)|"
            r"pagar\s+en\s+pagos|work\s+(?:something|it|this)\s+out|work\s+with\s+me|arrangement|"
            r"(?:hacer|llegar\s+a)\s+un\s+(?:acuerdo|arreglo)|a\s+pagos|de\s+a\s+poco|settle\s+for|settlement\s+offer|"
            r"plan\b(?!\s+to))",
        ),
    ],
    "pay_now": [
        _c(
            3,
            r"\b(?<!getting\s)(?:just|already|i|we|finally|ive|i'?ve|have|has|she|he|my\s+\w+)\s+(?:just\s+)?"
            r"(?:paid|made\s+(?:the|a|my|that)\s+payment|(?:mailed|dropped\s+off|sent)\s+(?:a|the|my|"
            r"you\s+a)\s+(?:check|money\s+order|payment)|sent\s+(?:the|a|my|it|you)|"
            r"submitted|transferred|payed|took\s+care\s+of\s+it)\b",
        ),
        _c(
            3,
            r"\b(?:paid\s+(?:in\s+full|it|the|off|w/|with|online|via|thru|through|today|"
            r"this\s+morning|yesterday|just\s+now|\$)|all\s+paid|payment\s+(?:sent|made|"
            r"submitted|done|complete|went\s+(?:through|thru)|processed)|took\s+care\s+of\s+it|"
            r"transferred|confirmation\s*(?:#|number|no|code|\d)|conf\s*#|receipt\s*#|"
            r"reference\s+(?:number|no|#)\s*[:#]?\s*[a-z]*-?\d)",
        ),
        _c(2, r"\b(?:already|all)\s+done\b"),
        _c(3, r"^\W*(?:paid|payed|pagado|pagad[oa]|done\W+paid|paid\s+it)\b"),
        _c(3, r"^\W*pd(?:\s+(?:it|in\s+full|today|already))?\W*$"),
        _c(
            3,
            r"\b(?:check|cheque|payment|money\s+order|it)(?:'s|\s+is|\s+was|\s+went|\s+has\s+been)\s+"
            r"(?:already\s+)?(?:in\s+the\s+mail|mailed|sent|on\s+(?:its|the)\s+way)\b",
        ),
        # A payment verb in the past without a subject ("sent it through the link"), or one
        # placed in time ("sent $80 10 min ago"), or a named payment rail after it.
        _c(
            3,
            r"(?:^|[.!?\n]\s*)(?:just\s+|already\s+)?(?:sent|paid|payed|transferred|mailed|"
            r"deposited|submitted|wired|zelled|venmoed)\s+(?:it|you|u|the|a|my|\$?\d|via|thru|"
            r"through|with|online|w/)|\b(?:sent|paid|payed|transferred|submitted|deposited|mailed|"
            r"wired)\b[^.?!\n]{0,40}\b(?:ago|just\s+now|this\s+morning|earlier\s+today|"
            r"last\s+night|yesterday)\b|\b(?:sent|paid|payed|transferred)\s+(?:it\s+|the\s+\w+\s+|"
            r"\$?\d+\s+)?(?:via|thru|through|with|on|using|by)\s+(?:zelle|venmo|cash\s?app|"
            r"paypal|apple\s+pay|google\s+pay|card|debit|credit|check|the\s+link|ur\s+|your\s+)",
            True,
        ),
        _c(1, r"(?<!getting\s)(?<!get\s)(?<!got\s)(?<!gets\s)(?<!be\s)\bpaid\b"),
        _c(
            3.5,
            r"\b(?:(?:pay|paying|pago|pagar|send|sending)\b[^.?!\n]{0,60}?\b(?:right\s+now|now|"
            r"today|rn|asap|ahorita|ahora\s+mismo|hoy)\b(?!\s+(?:or|and|but|o|y)\b)|"
            r"ready\s+to\s+pay|"
            r"knock\s+(?:this|it)\s+out|want\s+to\s+pay\s+(?:it\s+|this\s+)?(?:off\s+)?"
            r"(?:now|today|in\s+full)|sending\s+it\s+now|on\s+it\s+now)\b",
            True,
        ),
        _c(
            3.5,
            r"\b(?:(?:send|text|email|resend|re-send)\s+(?:me\s+)?(?:the|a|your|ur)?\s*"
            r"(?:payment\s+)?link|(?:what'?s|whats|where'?s|wheres)\s+the\s+(?:payment\s+)?link|"
            r"how\s+(?:do|can)\s+i\s+pay|(?:link|enlace)\s+para\s+pagar|como\s+(?:le\s+)?pago|"
            r"(?:manden|mande|mandame|envien|enviame)(?:me)?\s+(?:el\s+)?(?:link|enlace))",
        ),
        _c(
            4,
            r"\b(?:ya\s+(?:quedo\s+)?pagad[oa]|ya\s+(?:le\s+|les\s+)?(?:pague|deposite|transferi|"
            r"mande\s+el\s+pago|hice\s+el\s+pago|realice)|pague\s+(?:ayer|hoy|en|con|por|"
            r"todo|el\s+total)|ya\s+esta\s+pagad[oa]|liquide|ya\s+liquide|"
            r"acabo\s+de\s+(?:pagar|depositar|mandar|enviar|transferir|hacer\s+el\s+pago|liquidar|"
            r"abonar)|(?:realice|hice|efectue|mande|envie)\s+(?:el|un|mi|la)\s+(?:pago|deposito|"
            r"abono|transferencia)|adjunto\s+(?:el\s+|mi\s+)?(?:comprobante|recibo)|"
            r"comprobante\s+de\s+pago)\b",
        ),
    ],
    "promise_to_pay": [
        _c(
            3,
            r"\b(?:i'?ll|ill|i\s+will|we'?ll|we\s+will|i\s+can|we\s+can|i\s+could|i'?m\s+going\s+to|"
            r"im\s+going\s+to|i'?m\s+gonna|im\s+gonna|gonna|i\s+plan\s+to|going\s+to|will|can|"
            r"i\s+should\s+be\s+able\s+to|should\s+be\s+able\s+to)\s+(?:(?!you\b|u\b|y'?all\b)\w+\s+)?"
            r"(?:pay|send|make\s+(?:a|the)\s+payment|deposit|mail|drop|put|have\s+(?:it|the|"
            r"your|ur|payment)|get\s+(?:it|you|u|the)|do\s+\$|transfer|cover|settle|clear|"
            r"take\s+care\s+of\s+(?:it|this|that|the)|handle\s+(?:it|this))\b",
            True,
        ),
        _c(
            2.5,
            rf"\b(?:pay(?:ing)?|send(?:ing)?|sending\s+it|deposit(?:ing)?)\s+(?:it\s+|you\s+|u\s+|"
            rf"the\s+(?:balance|rest|full|amount|remaining)\s+|in\s+full\s+|\$?\d+\s+)?{_WHEN}\b",
            True,
        ),
        _c(
            3,
            r"\b(?:promise|i\s+swear|for\s+sure|sin\s+falta|le\s+prometo|prometo|lo\s+prometo|"
            r"(?:give\s+me|gimme|give\s+us|allow\s+me)\s+(?:till|until|til|to|a\s+(?:week|few|couple))|expect\s+(?:it|payment|"
            r"my|the|\$|\d)|scheduled\s+(?:a\s+|the\s+)?payment|check\s+run|"
            r"can\s+do\s+\$?\d|(?:have|get)\s+(?:it|you|the\s+money)\s+(?:to\s+you\s+)?by|"
            r"(?:i'?ll|ill|i\s+will|i\s+can|we'?ll|we\s+can)\s+do\s+(?:the\s+)?(?:\$?\d+|hundred|"
            r"fifty|twenty|thirty|forty|sixty|seventy|eighty|ninety|full|whole|rest|balance))\b",
            True,
        ),
        _c(
            3.5,
            r"\b(?:le|les|te)\s+(?:pago|deposito|mando|abono|transfiero|hago\s+el\s+pago|"
            r"pagare|liquido|cubro)|\bpagare\b|\bvoy\s+a\s+(?:pagar|depositar|mandar|abonar|"
            r"hacer\s+el\s+pago|liquidar)|\bvamos\s+a\s+pagar|\bpuedo\s+pagar\s+(?:el|la|en|"
            r"\$?\d|manana|hoy)|\bpago\s+(?:el|la|en|manana|a\s+fin)|\bles?\s+pagamos\b",
            True,
        ),
        _c(
            3,
            r"\b(?:i'?ll|ill|i\s+will|will|gonna|going\s+to)\b[^.?!\n]{0,40}\b(?:and|to)\s+"
            r"(?:pay|send|make\s+(?:a|the)\s+payment)\b",
            True,
        ),
        _c(
            1.5,
            r"\b(?:when\s+i\s+get\s+paid|payday|pay\s*day|my\s+check\s+(?:comes|clears)|"
            r"cuando\s+(?:me\s+)?(?:paguen|cobre)|dia\s+de\s+pago|quincena)\b",
        ),
    ],
    "callback": [
        _c(
            3.5,
            r"\b(?:(?:call|phone)\s+(?:me|us)\b(?!\s+(?:again|anymore|any\s+more))|give\s+me\s+a\s+"
            r"(?:call|ring)|call\s*back|callback|ring\s+me|(?:can|could|would)\s+(?:someone|"
            r"somebody|you|u|a\s+rep|an\s+agent)\s+(?:please\s+|pls\s+)?(?:call|phone|ring)|"
            r"(?:i'?ll|i\s+will|can\s+i|could\s+i|let\s+me|i'?d\s+like\s+to|i\s+want\s+to)\s+"
            r"(?:give\s+(?:you|u)\s+a\s+)?call\s+(?:you|u|back)?|"
            r"(?:talk|speak)\s+(?:to|with)\s+(?:someone|somebody|(?:a|an)\s+(?:real\s+|live\s+|"
            r"actual\s+)?(?:person|rep|human|representative|agent|supervisor|manager)|you)|"
            r"get\s+a\s+call)",
            True,
        ),
        _c(
            3,
            r"\b(?:(?:what'?s|whats|what\s+is)\s+(?:your|ur|the)\s+(?:phone\s+)?(?:number|#|"
            r"phone|office)|phone\s+number\s+(?:for|of)|(?:send|text|give|email)\s+me\s+(?:the|"
            r"your|ur|a)\s+(?:\w+\s+)?(?:number|phone|#)|number\s+to\s+call|"
            r"who\s+(?:is|'s)\s+this|whos\s+this|who\s+(?:dis|dat|this)\b|"
            r"who\s+are\s+(?:you|u|y'?all)|what\s+(?:is|'s)\s+this\s+(?:about|for|regarding|re)|"
            r"whats\s+this\s+(?:about|for)|what\s+(?:company|debt|account|bill|loan)\s+is|"
            r"is\s+this\s+(?:about|for|regarding|from)|how\s+did\s+(?:this|i|it)|what\s+is\s+this|"
            r"what\s+do\s+i\s+owe|(?:how\s+much|what)\s+(?:do\s+i|is\s+my)\s+(?:owe|balance)|"
            r"have\s+(?:a|some)\s+questions?|question\s+about|more\s+(?:info|information|details)|"
            r"(?:send|give|email|text|mail)\s+me\s+(?:the\s+|some\s+|more\s+)?(?:details|info|"
            r"information)|who\s+is\s+(?:calling|texting|this)|(?:enviar|mandar)(?:me)?\s+(?:los\s+|la\s+|mas\s+)?"
            r"(?:detalles|informacion)|^\W*(?:sorry\s+|um+\s+)?who\W*$)",
        ),
        _c(
            3.5,
            r"\b(?:llam(?:e|en|ame|eme|enme|arme)\b(?!\s+mas)|marqu(?:e|en)(?:me)?\b|"
            r"quien(?:es)?\s+(?:son|es|habla)|de\s+que\s+(?:se\s+trata|es)|tengo\s+una\s+"
            r"pregunta|quiero\s+hablar|hablar\s+con\s+(?:alguien|una\s+persona)|"
            r"(?:cual|que)\s+es\s+(?:su|el)\s+numero|de\s+donde\s+(?:es|son|llaman)|"
            r"(?:me|nos|le)\s+(?:pueden?|podrian?|puedes|podria)\s+(?:llamar|marcar|hablar|regresar|"
            r"devolver)|(?:regres|devolv|return)\w*\s+(?:la\s+|my\s+|the\s+)?(?:llamada|call)|"
            r"(?:llamar|marcar)(?:me|le|la|lo|nos)\b|que\s+(?:le|la|lo|me)\s+(?:llamen|marquen))",
        ),
        # A question about the debt itself: a conversation to have, not a refusal.
        _c(
            2,
            r"\b(?:who|what|where|why|how|when|which|quien|que|cual|donde|por\s+que|como)\b"
            r"[^?.!\n]{0,60}\b(?:account|debt|balance|creditor|collections?|bill|loan|charge|"
            r"deuda|cuenta|acreedor|saldo|cobro)\b[^?.!\n]*\?",
        ),
    ],
    "other": [
        _c(
            1.2,
            r"^\W*(?:ok|okay|k|kk|thanks|thank\s+you|thx|ty|got\s+it|cool|sure|yes|no|yep|nope|"
            r"lol|lmao|hmm+|hi|hello|hey|gracias|bueno|si|vale|ah|oh|what|huh|\?+)\W*$",
        ),
        _c(
            2.5,
            r"\b(?:out\s+of\s+(?:the\s+)?office|auto-?reply|automatic\s+reply|on\s+leave|"
            r"on\s+vacation|limited\s+access|fuera\s+de\s+la\s+oficina|respuesta\s+automatica)\b",
        ),
    ],
}

_NEGATORS = frozenset(
    [
        "not",
        "never",
        "no",
        "won't",
        "wont",
        "can't",
        "cant",
        "cannot",
        "don't",
        "dont",
        "didn't",
        "didnt",
        "ain't",
        "aint",
        "isn't",
        "nunca",
        "jamas",
        "tampoco",
        "refuse",
        "unable",
    ]
)
_CLAUSE_END = re.compile(r"[.;!?\n]|,\s*(?:but|pero)\b|\bbut\b|\bpero\b")


def negated(text: str, start: int) -> bool:
    """A negation among the three words before ``start``, in the same clause."""
    before = text[:start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    words = re.findall(r"[a-z']+", before[cut:])[-3:]
    return any(w in _NEGATORS for w in words)


def cue_scores(text: str) -> dict[str, float]:
    """Each intent's summed cue weight (each cue counted once) for folded ``text``."""
    scores: dict[str, float] = {}
    for intent, cues in CUES.items():
        total = 0.0
        for cue in cues:
            for m in cue.pattern.finditer(text):
                if cue.negatable and negated(text, m.start()):
                    continue
                total += cue.weight
                break
        if total:
            scores[intent] = total
    return scores
