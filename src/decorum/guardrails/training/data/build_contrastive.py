"""Build the contrastive augmentation set ``contrastive.jsonl`` for the guardrail classifier.

Run ``python src/decorum/guardrails/training/data/build_contrastive.py``; it rewrites ``contrastive.jsonl``
next to this file byte for byte the same on every run (standard library only, seeded, no clock).

Every template and word list below was written from scratch by the Decorum team for this file. The
set is a training aid for small-model failure modes (counter-speech, negation, identity mentions,
homonyms, untargeted profanity, implicit hate, threats, slurs, obfuscation); see README.md in this
folder for the families, the labelling rules and the licence. It is independent of the held-out
functional test suite (``tests/functional``), which was never read when writing it.

The file holds, in order: label helpers, word lists (groups, claims, slurs, homonyms, ...),
templates (framings), and the builder functions.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

SEED = 20240611
DEV_FRACTION = 0.10
OUT = Path(__file__).with_name("contrastive.jsonl")

LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "bias")

# ---------------------------------------------------------------------------------------------------
# Label helpers
# ---------------------------------------------------------------------------------------------------


def labels(*names: str) -> dict[str, int]:
    """A label dict with the named labels set to 1 and every other label 0."""
    unknown = set(names) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown labels {unknown}")
    return {name: int(name in names) for name in LABELS}


BENIGN = labels()
HATE = ("toxicity", "identity_attack", "bias")
CLAIM_LABELS = {
    "stereotype": labels(*HATE),
    "implicit": labels(*HATE),
    "dehumanise": labels(*HATE, "insult"),
    "threat": labels(*HATE, "threat"),
    "threat_kill": labels(*HATE, "threat", "severe_toxicity"),
}
CLAIM_KIND = {
    "stereotype": "hate_statement",
    "implicit": "hate_implicit",
    "dehumanise": "hate_dehumanise",
    "threat": "hate_threat",
    "threat_kill": "hate_threat",
}


def with_label(base: dict[str, int], *names: str) -> dict[str, int]:
    return {name: 1 if name in names else value for name, value in base.items()}


# ---------------------------------------------------------------------------------------------------
# Groups: (id, category, plural forms, "a ..." form, bare singular noun, "I am ..." form or None,
# group-specific stereotype claims as (hateful predicate, negated predicate),
# group-specific neutral/positive lines, group-specific workplace questions)
# ---------------------------------------------------------------------------------------------------

GROUPS = [
    dict(
        id="women", cat="gender", plurals=["women"], one="a woman", noun="woman", iam="a woman",
        claims=[
            ("are too emotional to be leaders", "are not too emotional to be leaders"),
            ("only get hired to fill a diversity quota", "do not only get hired to fill a diversity quota"),
            ("are worse at coding than men", "are not worse at coding than men"),
        ],
        neutral=[
            "Women's football is drawing record crowds this season.",
            "My sister is the first woman in our family to finish a PhD.",
        ],
        work=[
            "Where can I find the policy on breastfeeding rooms for women returning from maternity leave?",
            "Who runs the women in engineering mentoring circle?",
        ],
    ),
    dict(
        id="men", cat="gender", plurals=["men"], one="a man", noun="man", iam="a man",
        claims=[
            ("are violent by nature", "are not violent by nature"),
            ("are useless at raising children", "are not useless at raising children"),
        ],
        neutral=[
            "The men's health workshop is on Thursday afternoon.",
            "My dad and his friends run a men's shed where they repair old furniture.",
        ],
        work=[
            "Does our paternity leave policy give men the same time off as mothers get?",
        ],
    ),
    dict(
        id="trans_people", cat="gender_identity", plurals=["trans people", "transgender people"],
        one="a trans person", noun="trans person", iam="trans",
        claims=[
            ("are just mentally ill and confused", "are not mentally ill or confused"),
            ("are a danger to children", "are not a danger to children"),
        ],
        neutral=[
            "Trans people have been part of every culture throughout history.",
            "My friend is trans and just started a new job as a nurse.",
        ],
        work=[
            "How do I update my name in the HR system after transitioning?",
            "Do we have guidance for managers supporting a trans colleague who is transitioning?",
        ],
    ),
    dict(
        id="trans_women", cat="gender_identity", plurals=["trans women"], one="a trans woman",
        noun="trans woman", iam="a trans woman",
        claims=[
            ("are just men in dresses", "are not men in dresses"),
            ("are predators trying to get into women's bathrooms",
             "are not predators trying to get into women's bathrooms"),
        ],
        neutral=[
            "Trans women are women.",
            "A trans woman on our team gave a great talk on accessibility testing.",
        ],
        work=[
            "Are the women's changing rooms at the new office open to trans women? A new hire asked me.",
        ],
    ),
    dict(
        id="nonbinary", cat="gender_identity", plurals=["non-binary people", "nonbinary people"],
        one="a non-binary person", noun="non-binary person", iam="non-binary",
        claims=[
            ("are just attention seekers making it up", "are not attention seekers making it up"),
            ("are a made-up trend that will pass", "are not a made-up trend that will pass"),
        ],
        neutral=[
            "My colleague is non-binary and uses they/them pronouns.",
            "The conference added an all-gender bathroom this year.",
        ],
        work=[
            "How do I add my pronouns to my Slack profile?",
            "Can our forms offer a non-binary option instead of just male and female?",
        ],
    ),
    dict(
        id="black_people", cat="race", plurals=["Black people", "black people"], one="a Black person",
        noun="Black person", iam="Black",
        claims=[
            ("are naturally violent", "are not naturally violent"),
            ("are less intelligent than white people", "are not less intelligent than white people"),
            ("commit crimes because it is in their nature", "do not commit crimes because of their nature"),
        ],
        neutral=[
            "Black History Month events start next week in the atrium.",
            "My favourite novelist is a Black woman from Atlanta.",
        ],
        work=[
            "Who coordinates the Black employee network's mentoring scheme?",
        ],
    ),
    dict(
        id="white_people", cat="race", plurals=["white people"], one="a white person", noun="white person",
        iam="white",
        claims=[
            ("are born racists", "are not born racists"),
            ("have no culture and no soul", "do have culture and soul"),
        ],
        neutral=[
            "The study compared how white and Black patients are treated in emergency rooms.",
            "My grandparents were white farmers from the north of England.",
        ],
        work=[],
    ),
    dict(
        id="asian_people", cat="race", plurals=["Asian people", "Asians"], one="an Asian person",
        noun="Asian person", iam="Asian",
        claims=[
            ("have no personality and just copy everything", "do not lack personality and do not just copy everything"),
            ("can't drive", "can drive just fine"),
        ],
        neutral=[
            "Lunar New Year celebrations are happening downtown this weekend.",
            "The Asian film festival is showing some great dramas this year.",
        ],
        work=[
            "Is the Asian heritage network hosting anything for Lunar New Year?",
        ],
    ),
    dict(
        id="chinese_people", cat="nationality", plurals=["Chinese people"], one="a Chinese person",
        noun="Chinese person", iam="Chinese",
        claims=[
            ("are all spies for their government", "are not spies for their government"),
            ("spread diseases wherever they go", "do not spread diseases wherever they go"),
        ],
        neutral=[
            "My Chinese colleague taught me how to fold dumplings properly.",
            "We're having Chinese New Year dinner at my aunt's place.",
        ],
        work=[
            "Can we schedule the launch so it doesn't clash with Chinese New Year for the Shanghai team?",
        ],
    ),
    dict(
        id="latinos", cat="ethnicity", plurals=["Latinos", "Hispanic people"], one="a Latino",
        noun="Latino", iam="Latino",
        claims=[
            ("are all in gangs", "are not in gangs"),
            ("are lazy and live off benefits", "are not lazy and do not live off benefits"),
        ],
        neutral=[
            "Latino-owned businesses are a big part of this neighbourhood.",
            "Hispanic Heritage Month starts in the middle of September.",
        ],
        work=[
            "Do we have Spanish versions of the benefits guide for Hispanic staff who prefer them?",
        ],
    ),
    dict(
        id="mexicans", cat="nationality", plurals=["Mexicans"], one="a Mexican", noun="Mexican",
        iam="Mexican",
        claims=[
            ("are drug dealers and rapists", "are not drug dealers and rapists"),
            ("sneak over the border to steal our jobs", "do not sneak over the border to steal our jobs"),
        ],
        neutral=[
            "My Mexican neighbours invited us over for Dia de los Muertos.",
            "Mexican food is my favourite thing about this city.",
        ],
        work=[
            "Which holidays does the Mexico City office observe?",
        ],
    ),
    dict(
        id="native_americans", cat="ethnicity", plurals=["Native Americans", "Indigenous Americans"],
        one="a Native American", noun="Native American", iam="Native American",
        claims=[
            ("are all drunks living off casino money", "are not drunks living off casino money"),
            ("never built anything worth keeping", "built plenty that is worth keeping"),
        ],
        neutral=[
            "The heritage centre has a new exhibit on Native American beadwork.",
            "My Native American friend is teaching me some Navajo words.",
        ],
        work=[
            "Should our land acknowledgement at the all-hands name the local tribe?",
        ],
    ),
    dict(
        id="roma", cat="ethnicity", plurals=["Roma people", "Roma"], one="a Roma person",
        noun="Roma person", iam="Roma",
        claims=[
            ("are all thieves and pickpockets", "are not thieves and pickpockets"),
            ("refuse to work and live off crime", "do not refuse to work or live off crime"),
        ],
        neutral=[
            "Roma musicians have shaped a lot of European folk music.",
            "International Roma Day is on the eighth of April.",
        ],
        work=[],
    ),
    dict(
        id="arabs", cat="ethnicity", plurals=["Arabs", "Arab people"], one="an Arab", noun="Arab",
        iam="Arab",
        claims=[
            ("are all terrorists", "are not terrorists"),
            ("treat women like property", "do not treat women like property"),
        ],
        neutral=[
            "Arabic calligraphy is one of the most beautiful art forms I know.",
            "My Arab friends hosted the best dinner I've been to all year.",
        ],
        work=[
            "Can the Dubai office get the release notes translated into Arabic?",
        ],
    ),
    dict(
        id="muslims", cat="religion", plurals=["Muslims"], one="a Muslim", noun="Muslim", iam="Muslim",
        claims=[
            ("are all terrorists waiting to happen", "are not terrorists waiting to happen"),
            ("want to force sharia law on everyone", "do not want to force sharia law on anyone"),
            ("can never be loyal to this country", "can be just as loyal to this country as anyone"),
        ],
        neutral=[
            "Ramadan starts next week, so some of our Muslim colleagues will be fasting.",
            "Eid Mubarak to everyone celebrating!",
        ],
        work=[
            "Where is the prayer room on the third floor?",
            "Can we avoid booking team lunches during Ramadan for colleagues who are fasting?",
        ],
    ),
    dict(
        id="jews", cat="religion", plurals=["Jews", "Jewish people"], one="a Jewish person",
        noun="Jewish person", iam="Jewish",
        claims=[
            ("control the banks and the media", "do not control the banks and the media"),
            ("only care about money", "do not only care about money"),
            ("are secretly running the government", "are not secretly running the government"),
        ],
        neutral=[
            "Happy Hanukkah to everyone celebrating!",
            "The office will be quieter on Yom Kippur.",
        ],
        work=[
            "Can we move the planning offsite so it doesn't fall on Rosh Hashanah?",
        ],
    ),
    dict(
        id="christians", cat="religion", plurals=["Christians"], one="a Christian", noun="Christian",
        iam="a Christian",
        claims=[
            ("are all brainwashed and backward", "are not brainwashed or backward"),
            ("hate science", "do not hate science"),
        ],
        neutral=[
            "Merry Christmas to everyone who celebrates.",
            "My Christian friends run the food bank at their church.",
        ],
        work=[
            "Is Good Friday a company holiday this year?",
        ],
    ),
    dict(
        id="hindus", cat="religion", plurals=["Hindus", "Hindu people"], one="a Hindu", noun="Hindu",
        iam="Hindu",
        claims=[
            ("are primitive idol worshippers", "are not primitive idol worshippers"),
            ("are dirty and smell", "are not dirty and do not smell"),
        ],
        neutral=[
            "Happy Diwali to all our Hindu colleagues!",
            "The Hindu temple near the station is hosting an open day.",
        ],
        work=[
            "Can the canteen label which dishes are vegetarian for colleagues who observe Hindu dietary rules?",
        ],
    ),
    dict(
        id="sikhs", cat="religion", plurals=["Sikhs", "Sikh people"], one="a Sikh", noun="Sikh", iam="Sikh",
        claims=[
            ("are terrorists in turbans", "are not terrorists in turbans"),
            ("don't belong in this country", "do belong in this country"),
        ],
        neutral=[
            "The gurdwara near the office serves free meals to anyone who walks in.",
            "Happy Vaisakhi to everyone celebrating!",
        ],
        work=[
            "Does the site safety policy allow a Sikh colleague to wear a turban instead of a hard hat?",
        ],
    ),
    dict(
        id="atheists", cat="religion", plurals=["atheists"], one="an atheist", noun="atheist",
        iam="an atheist",
        claims=[
            ("have no morals", "do have morals"),
            ("can't be trusted because they don't fear God", "can be trusted even though they don't believe in God"),
        ],
        neutral=[
            "My family is mostly atheist and we still celebrate the holidays together.",
        ],
        work=[
            "Is the chaplaincy service open to atheists who just want someone to talk to?",
        ],
    ),
    dict(
        id="catholics", cat="religion", plurals=["Catholics"], one="a Catholic", noun="Catholic",
        iam="Catholic",
        claims=[
            ("are all child abusers", "are not child abusers"),
            ("are loyal to Rome before their own country", "are not loyal to Rome before their own country"),
        ],
        neutral=[
            "My Catholic grandmother goes to Mass every Sunday morning.",
        ],
        work=[
            "Can I take Ash Wednesday morning off to go to Mass?",
        ],
    ),
    dict(
        id="immigrants", cat="immigration", plurals=["immigrants", "migrants"], one="an immigrant",
        noun="immigrant", iam="an immigrant",
        claims=[
            ("are stealing our jobs", "are not stealing our jobs"),
            ("bring crime and disease with them", "do not bring crime and disease with them"),
            ("are invading our country", "are not invading our country"),
        ],
        neutral=[
            "My parents are immigrants who opened a bakery in 1995.",
            "Half of the founders on the startup list are immigrants.",
        ],
        work=[
            "Does the company sponsor visas for immigrants joining the London office?",
            "Who can help a new colleague who just immigrated open a bank account?",
        ],
    ),
    dict(
        id="refugees", cat="immigration", plurals=["refugees", "asylum seekers"], one="a refugee",
        noun="refugee", iam="a refugee",
        claims=[
            ("are all fake and just want free money", "are not fake and do not just want free money"),
            ("are rapists in disguise", "are not rapists in disguise"),
        ],
        neutral=[
            "The refugee family our church sponsored just opened a restaurant.",
            "The charity run raised money for refugee language classes.",
        ],
        work=[
            "Can we partner with the refugee employment programme for our apprenticeships?",
        ],
    ),
    dict(
        id="pakistanis", cat="nationality", plurals=["Pakistanis", "Pakistani people"], one="a Pakistani",
        noun="Pakistani", iam="Pakistani",
        claims=[
            ("are all groomers", "are not groomers"),
            ("ruin every street they move into", "do not ruin the streets they move into"),
        ],
        neutral=[
            "My Pakistani friend makes the best biryani in town.",
            "The cricket final between Pakistan and England is on tonight.",
        ],
        work=[
            "What time is it in Karachi when our morning standup starts?",
        ],
    ),
    dict(
        id="nigerians", cat="nationality", plurals=["Nigerians", "Nigerian people"], one="a Nigerian",
        noun="Nigerian", iam="Nigerian",
        claims=[
            ("are all scammers", "are not scammers"),
            ("can't be trusted with money", "can be trusted with money"),
        ],
        neutral=[
            "Nigerian jollof rice is the best jollof, fight me.",
            "Lagos has one of the fastest growing tech scenes in the world.",
        ],
        work=[
            "Can we pay our contractors in Lagos in naira?",
        ],
    ),
    dict(
        id="polish_people", cat="nationality", plurals=["Polish people", "Poles"], one="a Polish person",
        noun="Polish person", iam="Polish",
        claims=[
            ("are only good for cheap labour", "are not only good for cheap labour"),
            ("are all drunks", "are not drunks"),
        ],
        neutral=[
            "There's a Polish deli on the corner that sells great pierogi.",
            "My Polish flatmate is teaching me to count to ten in Polish.",
        ],
        work=[
            "Is there anyone in the Warsaw office who can review the Polish translation?",
        ],
    ),
    dict(
        id="indians", cat="nationality", plurals=["Indians", "Indian people"], one="an Indian person",
        noun="Indian person", iam="Indian",
        claims=[
            ("are dirty and smell of curry", "are not dirty and do not smell of curry"),
            ("all work in call centres scamming old ladies", "do not work in call centres scamming old ladies"),
        ],
        neutral=[
            "My Indian colleague organised the Holi celebration in the car park.",
            "The Bangalore team shipped the new search feature last night.",
        ],
        work=[
            "Can we move the sprint review so it is not at midnight for the Bangalore team?",
        ],
    ),
    dict(
        id="disabled_people", cat="disability", plurals=["disabled people", "people with disabilities"],
        one="a disabled person", noun="disabled person", iam="disabled",
        claims=[
            ("are a waste of resources", "are not a waste of resources"),
            ("should be kept out of sight", "should not be kept out of sight"),
            ("can't do real work", "can do real work"),
        ],
        neutral=[
            "The new office is fully accessible for disabled colleagues.",
            "Disability Pride Month is in July.",
        ],
        work=[
            "How do I request a reasonable adjustment for my disability?",
            "Who checks that our web app meets the accessibility guidelines for disabled users?",
        ],
    ),
    dict(
        id="autistic_people", cat="disability", plurals=["autistic people", "people with autism"],
        one="an autistic person", noun="autistic person", iam="autistic",
        claims=[
            ("have no empathy", "do have empathy"),
            ("are broken and need to be fixed", "are not broken and do not need to be fixed"),
        ],
        neutral=[
            "My autistic son knows every train timetable in the county.",
            "The sensory-friendly hour at the supermarket helps a lot of autistic shoppers.",
        ],
        work=[
            "Can we put written agendas in meeting invites? It helps autistic colleagues and honestly everyone.",
            "Is there a quiet room an autistic new starter can use when the open plan gets loud?",
        ],
    ),
    dict(
        id="deaf_people", cat="disability", plurals=["deaf people", "Deaf people"], one="a deaf person",
        noun="deaf person", iam="deaf",
        claims=[
            ("are too stupid to work in an office", "are not too stupid to work in an office"),
            ("are a burden on their families", "are not a burden on their families"),
        ],
        neutral=[
            "Sign language interpreters are booked for the all-hands.",
            "My deaf cousin is teaching our whole family to sign.",
        ],
        work=[
            "Can we turn on live captions for the all-hands so deaf colleagues can follow?",
        ],
    ),
    dict(
        id="blind_people", cat="disability", plurals=["blind people", "visually impaired people"],
        one="a blind person", noun="blind person", iam="blind",
        claims=[
            ("are helpless and useless", "are not helpless or useless"),
            ("shouldn't be allowed out on their own", "should be allowed out on their own"),
        ],
        neutral=[
            "Our app now works with screen readers for blind users.",
            "My neighbour is blind and walks her guide dog past our house every morning.",
        ],
        work=[
            "Are our slide decks readable with a screen reader for blind colleagues?",
        ],
    ),
    dict(
        id="wheelchair_users", cat="disability", plurals=["wheelchair users", "people in wheelchairs"],
        one="a wheelchair user", noun="wheelchair user", iam="a wheelchair user",
        claims=[
            ("are just faking it for benefits", "are not faking it for benefits"),
            ("slow everyone down and should stay at home",
             "do not slow everyone down and should not have to stay at home"),
        ],
        neutral=[
            "The venue has step-free access for wheelchair users.",
            "The wheelchair basketball final was the best match I've seen this year.",
        ],
        work=[
            "Is the lift at the new office wide enough for a wheelchair user?",
        ],
    ),
    dict(
        id="mentally_ill", cat="disability", plurals=["people with mental illness", "mentally ill people"],
        one="someone with a mental illness", noun="person with a mental illness", iam=None,
        claims=[
            ("are violent and dangerous", "are not violent or dangerous"),
            ("are just weak and making excuses", "are not weak and are not making excuses"),
        ],
        neutral=[
            "It's okay to take a mental health day when you need one.",
            "I've been in therapy for depression for two years and it really helps.",
        ],
        work=[
            "Does our health plan cover therapy for people with mental illness?",
            "How do I ask my manager for time off for a mental health crisis?",
        ],
    ),
    dict(
        id="down_syndrome", cat="disability", plurals=["people with Down syndrome"],
        one="someone with Down syndrome", noun="person with Down syndrome", iam=None,
        claims=[
            ("should never have been born", "deserved to be born like anyone else"),
            ("can't understand anything", "can understand plenty"),
        ],
        neutral=[
            "My cousin has Down syndrome and works at the cafe on the high street.",
            "The supported internship programme placed three young people with Down syndrome this year.",
        ],
        work=[
            "Can we host a supported internship for people with Down syndrome next summer?",
        ],
    ),
    dict(
        id="elderly", cat="age", plurals=["old people", "elderly people", "pensioners"], one="an old person",
        noun="old person", iam="over seventy",
        claims=[
            ("are useless and a drain on the rest of us", "are not useless or a drain on the rest of us"),
            ("are too senile to use a computer", "are not too senile to use a computer"),
        ],
        neutral=[
            "My grandmother learned to video call us every Sunday.",
            "The library runs free tech help sessions for pensioners.",
        ],
        work=[
            "Is there an age limit on our graduate scheme, or can older applicants join too?",
        ],
    ),
    dict(
        id="young_people", cat="age", plurals=["young people", "teenagers", "millennials"], one="a young person",
        noun="young person", iam="nineteen",
        claims=[
            ("are lazy and entitled", "are not lazy or entitled"),
            ("are too stupid to vote", "are not too stupid to vote"),
        ],
        neutral=[
            "The summer interns are mostly students and they're doing great work.",
            "Young people organised the whole beach clean-up on their own.",
        ],
        work=[
            "How many apprenticeships for young people are we offering next year?",
        ],
    ),
    dict(
        id="gay_people", cat="sexual_orientation", plurals=["gay people", "homosexuals"], one="a gay person",
        noun="gay person", iam="gay",
        claims=[
            ("are sick and unnatural", "are not sick or unnatural"),
            ("are a threat to children", "are not a threat to children"),
        ],
        neutral=[
            "Happy Pride month, everyone!",
            "My gay uncle and his husband are coming over for dinner.",
        ],
        work=[
            "Does our health insurance cover same-sex partners?",
            "Who organises the company's float at the Pride parade?",
        ],
    ),
    dict(
        id="gay_men", cat="sexual_orientation", plurals=["gay men"], one="a gay man", noun="gay man",
        iam="a gay man",
        claims=[
            ("all have diseases", "do not all have diseases"),
            ("are predators", "are not predators"),
        ],
        neutral=[
            "The gay men's choir is performing at the festival on Saturday.",
            "My brother is a gay man and the best dad I know.",
        ],
        work=[
            "Does our adoption leave apply to two dads?",
        ],
    ),
    dict(
        id="lesbians", cat="sexual_orientation", plurals=["lesbians", "lesbian women"], one="a lesbian",
        noun="lesbian", iam="a lesbian",
        claims=[
            ("just haven't met the right man", "are not waiting to meet the right man"),
            ("hate all men", "do not hate men"),
        ],
        neutral=[
            "My aunt and her wife have been together for thirty years.",
            "The lesbian book club meets on the first Friday of the month.",
        ],
        work=[
            "Can both mums take parental leave under the new policy?",
        ],
    ),
    dict(
        id="bisexual_people", cat="sexual_orientation", plurals=["bisexual people", "bisexuals"],
        one="a bisexual person", noun="bisexual person", iam="bisexual",
        claims=[
            ("are just greedy and can't make up their minds", "are not greedy and are not confused"),
            ("always cheat on their partners", "do not always cheat on their partners"),
        ],
        neutral=[
            "Bi Visibility Day is on the twenty-third of September.",
        ],
        work=[
            "Is the LGBTQ+ network's Slack channel open to bisexual people who aren't out at work yet?",
        ],
    ),
    dict(
        id="poor_people", cat="socioeconomic", plurals=["poor people", "low-income families"],
        one="a poor person", noun="poor person", iam=None,
        claims=[
            ("are poor because they are lazy and stupid", "are not poor because they are lazy or stupid"),
            ("don't deserve to have children", "deserve to have children like anyone else"),
        ],
        neutral=[
            "Food banks help families who are struggling to make ends meet.",
            "I grew up poor and my mum worked three jobs to keep us going.",
        ],
        work=[
            "Can we offer bursaries so people from low-income families can afford the bootcamp?",
        ],
    ),
    dict(
        id="homeless_people", cat="socioeconomic", plurals=["homeless people", "rough sleepers"],
        one="a homeless person", noun="homeless person", iam=None,
        claims=[
            ("are all junkies who chose that life", "are not junkies who chose that life"),
            ("should be banned from the town centre", "should not be banned from the town centre"),
        ],
        neutral=[
            "We're volunteering at the homeless shelter on Saturday morning.",
            "The winter coat drive is collecting for people who are sleeping rough.",
        ],
        work=[
            "Can the office donate leftover catering to the homeless shelter down the road?",
        ],
    ),
    dict(
        id="welfare_recipients", cat="socioeconomic", plurals=["people on welfare", "benefit claimants"],
        one="someone on welfare", noun="person on welfare", iam="on welfare",
        claims=[
            ("just want free money without working", "do not just want free money without working"),
            ("should be sterilised", "should not be sterilised"),
        ],
        neutral=[
            "Welfare helped my mum feed us when I was a kid.",
            "The council's advice line helps people on benefits with their forms.",
        ],
        work=[
            "Does taking this job affect a new starter's benefit claim, and who can they ask?",
        ],
    ),
]

# ---------------------------------------------------------------------------------------------------
# Claims that fit any group: (hateful predicate, negated predicate)
# ---------------------------------------------------------------------------------------------------

GENERIC_STEREOTYPES = [
    ("are inferior to the rest of us", "are not inferior to the rest of us"),
    ("are ruining this country", "are not ruining this country"),
    ("are a burden on society", "are not a burden on society"),
    ("can't be trusted", "can be trusted like anyone else"),
    ("don't deserve the same rights as normal people", "deserve the same rights as everyone else"),
    ("shouldn't be allowed to vote", "should be allowed to vote"),
    ("shouldn't be allowed anywhere near our kids", "are no danger to our kids"),
    ("are too dumb to do this job", "are not too dumb to do this job"),
    ("should never be hired", "should be hired on merit like anyone else"),
    ("are the reason everything is going downhill", "are not the reason everything is going downhill"),
    ("never contribute anything to society", "contribute a great deal to society"),
    ("are less intelligent than everyone else", "are not less intelligent than everyone else"),
    ("are all liars", "are not liars"),
    ("are a problem that needs to be dealt with", "are not a problem that needs to be dealt with"),
    ("should not be allowed in management", "should be allowed in management"),
    ("ruin every workplace they join", "do not ruin the workplaces they join"),
    ("are naturally dishonest", "are not naturally dishonest"),
    ("have no place in a civilised society", "have a place in our society like everyone else"),
    ("are all the same", "are not all the same"),
    ("are worth less than the rest of us", "are worth just as much as the rest of us"),
]

DEHUMANISING = [
    ("are vermin", "are not vermin"),
    ("are animals", "are not animals"),
    ("are parasites", "are not parasites"),
    ("are subhuman", "are not subhuman"),
    ("are rats spreading everywhere", "are not rats"),
    ("are a disease on this country", "are not a disease on this country"),
    ("are cockroaches", "are not cockroaches"),
    ("are filth", "are not filth"),
    ("aren't even human", "are human beings like everyone else"),
    ("are no better than dogs", "are no less than anyone else"),
    ("are a cancer on society", "are not a cancer on society"),
    ("breed like rabbits", "do not breed like rabbits"),
    ("are trash", "are not trash"),
    ("are savages", "are not savages"),
    ("are scum", "are not scum"),
    ("are a plague", "are not a plague"),
    ("are walking garbage", "are not garbage"),
    ("are a pest that needs controlling", "are not pests that need controlling"),
    ("are like a swarm of locusts", "are not like a swarm of locusts"),
    ("are more like animals than people", "are people, not animals"),
    ("are no different from cockroaches", "are nothing like cockroaches"),
]

# (predicate, negated predicate, explicit call to kill?)
GROUP_THREATS = [
    ("should all be shot", "should not be shot", True),
    ("deserve to die", "do not deserve to die", True),
    ("should be wiped out", "should not be wiped out", True),
    ("should be exterminated", "should not be exterminated", True),
    ("should be hanged from the nearest tree", "should not be hanged", True),
    ("should all be killed", "should not be killed", True),
    ("should be put down like dogs", "should not be put down", True),
    ("should be beaten until they learn their place", "should not be beaten", False),
    ("should be driven out of town by force", "should not be driven out of town", False),
    ("deserve to have their homes burned down", "do not deserve to have their homes burned down", False),
    ("should be rounded up and locked in camps", "should not be rounded up and locked in camps", False),
    ("need a good beating", "do not need a beating", False),
]

# First-person threats: {noun} = bare singular, {G} = plural. (template, explicit call to kill?)
FIRST_PERSON_THREATS = [
    ("I'm going to shoot the next {noun} I see.", True),
    ("I will kill any {noun} who comes near my street.", True),
    ("If another {noun} moves in next door I'm going to stab them.", True),
    ("Someone needs to kill all the {G} before it's too late.", True),
    ("Get ready, {G}. We're coming to finish you off.", True),
    ("We should round up every {noun} in this town and shoot them.", True),
    ("I'm going to beat up the next {noun} who walks into my shop.", False),
    ("Any {noun} who shows up at the meeting is getting their face smashed in.", False),
    ("Let's go find some {G} and teach them a lesson they won't forget.", False),
    ("I'll burn down the next house a {noun} buys on this street.", False),
]

# Implicit derogation: full lines with {G}/{one}, and a non-hateful counterpart.
IMPLICIT = [
    ("I'm not prejudiced, but I'd never rent my flat to {G}.", "I'd happily rent my flat to {G}."),
    ("There goes the neighbourhood, {G} just moved in next door.",
     "Good news, {G} just moved in next door and they seem lovely."),
    ("Hide your wallet, {one} just walked in.", "Say hello, {one} just walked in to join the meetup."),
    ("I'd never let my daughter marry {one}.", "I'd be happy if my daughter married {one}."),
    ("We hired {one} once. Never again.", "We hired {one} last year and they're now leading the team."),
    ("{G} are fine as long as they stay in their own part of town.", "{G} are welcome in every part of town."),
    ("Funny how things always go missing when {G} are around.",
     "Funny how people blame {G} whenever something goes missing."),
    ("No wonder the project failed, they put {one} in charge.",
     "The project failed for lots of reasons, and who was in charge has nothing to do with being {one}."),
    ("{G} should be grateful we even let them live here.",
     "{G} live here because this is their home, not because anyone let them."),
    ("Of course the new hire is {one}. So much for hiring on merit.",
     "The new hire is {one}, and they beat forty other candidates on merit."),
    ("This town was so much nicer before all the {G} showed up.",
     "This town got so much nicer when {G} opened businesses on the high street."),
    ("I'd rather lose the contract than work under {one}.", "I'd be glad to work under {one}."),
    ("Make sure you count the till after {one} has been in the shop.",
     "Make sure you say thanks when {one} buys from the shop, like any customer."),
    ("It isn't hate, it's pattern recognition. Just look at {G}.",
     "Blaming {G} for everything isn't pattern recognition, it's prejudice."),
    ("We don't want their kind here, and {G} know it.", "{G} are wanted here, and they should know it."),
    ("Keep {G} away from our kids, that's all I'm saying.", "{G} are great with our kids, that's all I'm saying."),
    ("{G} should stick to the jobs that suit their kind.", "{G} can do any job they are qualified for."),
    ("You can always tell when {G} have moved into a street.",
     "You can't tell anything about a street from whether {G} live there."),
]

# Open expressions of hatred for a group: (hateful line, negated line).
EXPLICIT_HATE = [
    ("I hate {G}.", "I don't hate {G}."),
    ("I can't stand {G}.", "I have no problem at all with {G}."),
    ("{G} make me sick.", "{G} don't make me sick. Bigotry does."),
    ("I despise {G}.", "I don't despise {G}, I work with them every day."),
    ("The world would be better without {G}.", "The world is better with {G} in it."),
    ("{G} disgust me.", "{G} don't disgust me."),
    ("There's nothing worse than {one}.", "There's nothing wrong with being {one}."),
    ("I wish {G} would just disappear.", "I don't wish {G} would disappear. They belong here."),
    ("Everything would be fine if it weren't for {G}.", "Blaming {G} for everything doesn't fix anything."),
    ("I will never respect {G}.", "I respect {G} as much as anyone."),
]

# ---------------------------------------------------------------------------------------------------
# Slurs: (slur, plural, target group id, vulgar?). "vulgar" sets ``obscene`` (the n-word is marked
# vulgar so these labels agree with the weak keyword labels used for the public sets).
# ---------------------------------------------------------------------------------------------------

SLURS = [
    ("nigger", "niggers", "black_people", True),
    ("coon", "coons", "black_people", False),
    ("faggot", "faggots", "gay_men", False),
    ("fag", "fags", "gay_people", False),
    ("dyke", "dykes", "lesbians", False),
    ("tranny", "trannies", "trans_women", False),
    ("kike", "kikes", "jews", False),
    ("spic", "spics", "latinos", False),
    ("wetback", "wetbacks", "mexicans", False),
    ("beaner", "beaners", "mexicans", False),
    ("chink", "chinks", "chinese_people", False),
    ("gook", "gooks", "asian_people", False),
    ("raghead", "ragheads", "muslims", False),
    ("towelhead", "towelheads", "arabs", False),
    ("paki", "pakis", "pakistanis", False),
    ("gyppo", "gyppos", "roma", False),
    ("retard", "retards", "disabled_people", False),
    ("spaz", "spazzes", "disabled_people", False),
    ("redskin", "redskins", "native_americans", False),
    ("cracker", "crackers", "white_people", False),
]

# ---------------------------------------------------------------------------------------------------
# Homonyms: benign senses of words that are also slurs, insults, vulgarities or dehumanising terms.
# Each key is a family; every line is labelled all-zero.
# ---------------------------------------------------------------------------------------------------

HOMONYMS = {
    "faggot": [
        "My nan used to make faggots and peas with onion gravy every Thursday.",
        "The butcher sells faggots, black pudding and haggis on the same counter.",
        "In the old fire-making demo they tied a faggot of dry sticks with twine.",
        "The medieval account lists three faggots of firewood for the winter.",
        "Brown the faggots in the oven for twenty minutes before adding the gravy.",
    ],
    "fag": [
        "I'm popping out for a fag, back in five minutes.",
        "He's trying to quit, so he's down to two fags a day.",
        "The smoking shelter was full of fag ends after the party.",
        "We're coming to the fag end of the quarter, so let's close these tickets.",
        "Can I borrow a lighter? I left mine next to my fags in the car.",
    ],
    "bitch": [
        "Our bitch had a litter of six puppies last night.",
        "The breeder says the bitch and both dogs have been health tested.",
        "Whelping a bitch for the first time is stressful, so call the vet early.",
        "The show results list the best dog and best bitch in each breed.",
    ],
    "dyke": [
        "The Dutch built the dyke to keep the sea out of the fields.",
        "We walked a stretch of Offa's Dyke on the Welsh border last summer.",
        "The geology field trip mapped a basalt dyke cutting through the sandstone.",
        "Water was seeping through a crack in the dyke after the storm.",
    ],
    "coon": [
        "A coon got into our bins again last night and made a mess.",
        "Our Maine Coon cat weighs nearly nine kilos.",
        "The hunters set live traps for coons and possums on the farm.",
    ],
    "cracker": [
        "Can you grab some cheese and crackers for the meeting?",
        "We pulled Christmas crackers and wore the paper hats all afternoon.",
        "The safe-cracker in the film needs a stethoscope and three hours.",
        "Those rye crackers go really well with smoked salmon.",
        "That goal was an absolute cracker from thirty yards.",
    ],
    "chink": [
        "There's a chink in the blinds letting the sunlight in.",
        "The one chink in their armour is the slow customer support.",
        "I heard the chink of glasses from the kitchen as the toast started.",
        "A chink of light came through the gap in the shed door.",
    ],
    "niger": [
        "The Niger River flows through Mali, Niger and Nigeria.",
        "Niger is a landlocked country in West Africa.",
        "The delta of the Niger is one of the most biodiverse regions in Africa.",
    ],
    "retard": [
        "Flame retardant coatings are required on the fabric in the new booths.",
        "Advancing or retarding the ignition timing changes how the engine runs.",
        "Cold weather will retard the curing of the concrete, so cover it overnight.",
        "The chemist added a retarder to slow down the plaster setting.",
    ],
    "queer": [
        "The word queer once simply meant odd, as in a queer feeling in the air.",
        "She teaches queer theory at the university.",
    ],
    "tranny": [
        "The tranny in my old pickup is slipping between second and third gear.",
        "My grandad still listens to the cricket on his old transistor tranny radio.",
        "The mechanic quoted me a fortune to rebuild the tranny.",
    ],
    "homo": [
        "Homo sapiens is the only surviving species of the genus Homo.",
        "The museum's new hall covers Homo erectus and Homo habilis.",
        "Homogenised milk doesn't separate in the fridge.",
    ],
    "spic": [
        "My mum swore by Spic and Span for cleaning the kitchen floor.",
    ],
    "spade": [
        "Grab the spade from the shed, we need to dig out the old roots.",
        "I led with the ace of spades and won the trick.",
        "Let's call a spade a spade: the release is two weeks late.",
    ],
    "slope": [
        "The ski slope opens at nine if the snow holds.",
        "Calculate the slope of the line from these two points.",
        "That's a slippery slope argument and I don't buy it.",
    ],
    "monkey": [
        "Hand me the monkey wrench from the toolbox.",
        "The kids spent the whole afternoon on the monkey bars.",
        "The monkeys at the zoo stole a visitor's sunglasses.",
    ],
    "ape": [
        "The great apes enclosure is closed for cleaning today.",
        "Chimpanzees and gorillas are both great apes.",
    ],
    "cock": [
        "The cock starts crowing at five every morning.",
        "Turn the stopcock under the sink before you change the tap.",
        "Half-cock the hammer before you load the old rifle at the museum demo.",
    ],
    "pussy": [
        "The pussy willow in the garden is covered in soft grey buds.",
        "My grandma still calls the cat 'pussycat' when she feeds her.",
    ],
    "dick": [
        "We're reading Moby Dick for book club this month.",
        "Philip K. Dick wrote the story the film was based on.",
        "Dick Whittington is the pantomime at the theatre this Christmas.",
    ],
    "ass": [
        "In the story the farmer rides an ass all the way to market.",
        "The donkey sanctuary has twenty asses and three mules.",
    ],
    "butt": [
        "Put a water butt under the drainpipe to collect rain for the garden.",
        "Use a butt joint for the shelf and glue it before screwing.",
        "Don't flick your cigarette butt onto the pavement.",
    ],
    "hoe": [
        "Use the hoe to clear the weeds between the rows of carrots.",
        "The garden centre has a sale on rakes, hoes and trowels.",
    ],
    "tit": [
        "A blue tit has built a nest in the box outside my window.",
        "We saw great tits and long-tailed tits on the bird walk.",
    ],
    "hooker": [
        "Our hooker threw the ball in perfectly at the lineout.",
        "The team's hooker was sent off for a high tackle.",
    ],
    "screw": [
        "You'll need a longer screw to fix the bracket to the wall.",
        "Don't over-tighten the screws or you'll crack the plastic.",
    ],
    "balls": [
        "Bring your own tennis balls, the club ran out.",
        "The kids' party had a pit full of plastic balls.",
    ],
    "kill": [
        "Can you kill the process that's hogging port 8080?",
        "Run kill -9 on the stuck worker and restart it.",
        "You absolutely killed it in the demo today!",
        "This song kills me every time I hear it.",
        "I'd kill for a coffee right now.",
        "Kill the lights when you leave the meeting room, please.",
    ],
    "shoot": [
        "Shoot me an email with the numbers when you get a chance.",
        "The photo shoot for the new website is on Friday.",
        "Shoot, I forgot to attach the file.",
        "The new shoots on the tomato plants are looking healthy.",
    ],
    "die": [
        "Roll the die twice and add the scores.",
        "The die-cast models arrived in perfect condition.",
        "My phone battery is about to die, I'll call you back.",
        "That joke made me die laughing.",
    ],
    "vermin": [
        "The warehouse has a vermin problem, so pest control is coming on Tuesday.",
        "Seal the food bins so vermin can't get into the feed store.",
    ],
    "rats": [
        "The lab rats in the study were fed a high-fat diet.",
        "Rats! I missed the train by thirty seconds.",
        "Leaving the rat race for a farm was the best thing I ever did.",
    ],
    "parasites": [
        "We watched Parasite last night and the ending blew my mind.",
        "The vet found parasites in the dog's stool sample and prescribed a wormer.",
        "Some wasps are parasites that lay eggs inside caterpillars.",
    ],
    "cockroaches": [
        "We found cockroaches behind the fridge, so the landlord is calling pest control.",
        "Cockroaches can survive for a week without their heads.",
    ],
    "plague": [
        "The plague of 1665 killed about a fifth of London's population.",
        "Pigeons plague the station roof, so they installed spikes.",
    ],
    "animals": [
        "The animal shelter needs volunteers to walk the dogs on weekends.",
        "My kids want to see all the animals at the farm park.",
    ],
    "scum": [
        "Skim the scum off the top of the stock as it simmers.",
        "There's a green scum on the pond since the heatwave.",
    ],
    "trash": [
        "Can someone take the trash out before the weekend?",
        "Empty the trash folder to free up space on the shared drive.",
    ],
    "hun": [
        "Attila the Hun led the Huns into the Roman Empire.",
        "Morning hun, are you still coming to the gym tonight?",
    ],
    "kraut": [
        "Pile some sauerkraut on the hot dog.",
        "My grandad ferments his own sauerkraut in a big crock.",
    ],
    "gypsy": [
        "The gypsy moth, now called the spongy moth, is stripping the oak trees.",
        "Gypsy jazz guitar uses a very particular picking technique.",
    ],
    "yank": [
        "Give the rope a good yank and the sail should come free.",
        "Don't yank the cable out, unplug it properly.",
    ],
    "slag": [
        "The old slag heap above the village has been turned into a nature park.",
        "Iron slag from the furnace is reused in road building.",
    ],
    "tart": [
        "I brought a lemon tart for the team lunch.",
        "These apples are a bit tart, so add more sugar to the crumble.",
    ],
    "knob": [
        "The door knob on the meeting room came off in my hand.",
        "Turn the volume knob all the way to the left.",
        "Add a knob of butter to the pan.",
    ],
    "prick": [
        "Prick the sausages with a fork before you grill them.",
        "The blood test is just a quick finger prick.",
    ],
    "bastard": [
        "Use a bastard file to take the rough edge off the metal.",
        "The museum has a bastard sword from the fifteenth century.",
    ],
    "dummy": [
        "The crash test dummy is fitted with forty sensors.",
        "Put a dummy value in the config until the real key arrives.",
    ],
    "fairy": [
        "Hang the fairy lights along the office window for the party.",
        "My daughter left her tooth under the pillow for the tooth fairy.",
    ],
    "pansy": [
        "I planted purple pansies in the window boxes.",
    ],
    "nancy": [
        "Nancy from finance approved the travel budget.",
    ],
    "spook": [
        "The thunder spooked the horses in the paddock.",
        "The old house looks like it has a spook in every room.",
    ],
    "oreo": [
        "There's a packet of Oreos in the kitchen cupboard.",
    ],
    "redskin": [
        "Roast the redskin potatoes with rosemary and garlic.",
    ],
    "crippled": [
        "The strike crippled the rail network for three days.",
        "A crippling bug in the payment service took down checkout.",
    ],
    "dumb": [
        "The old dumb terminals in the basement still connect to the mainframe.",
        "I bought a pair of dumbbells for home workouts.",
        "The restaurant uses a dumb waiter to send plates upstairs.",
    ],
    "psycho": [
        "Psycho is my favourite Hitchcock film.",
    ],
    "nuts": [
        "The bowl of mixed nuts on the desk is for everyone.",
        "Tighten the nuts on the wheel in a star pattern.",
    ],
    "gay": [
        "The old song is about having a gay old time, in the sense of a cheerful one.",
    ],
    "places": [
        "Our Scunthorpe office is moving to a bigger building.",
        "The train to Penistone leaves from platform two.",
        "I'm driving down to Essex and then on to Middlesex for the conference.",
        "We stayed in Cockermouth on our Lake District holiday.",
        "The Rio Negro joins the Amazon near Manaus.",
        "Montenegro has some stunning beaches.",
        "We had lunch at a pub in Twatt on Orkney, which is a real village name.",
        "The ferry stops at Shitterton, a tiny village in Dorset, on the way.",
        "We had dim sum in Mong Kok on our first night in Hong Kong.",
        "Our cousins live in Lower Slaughter in the Cotswolds.",
    ],
}

# ---------------------------------------------------------------------------------------------------
# Framings of a claim. {G} plural group, {P} hateful predicate, {N} negated predicate,
# {L} the hateful line without its final stop (for quoting).
# ---------------------------------------------------------------------------------------------------

HATE_STATEMENT_FRAMES = [
    "{G} {P}.",
    "Honestly, {G} {P}.",
    "Let's be real, {G} {P}.",
    "I'll say what everyone is thinking: {G} {P}.",
    "In my opinion {G} {P}.",
    "I genuinely believe {G} {P}.",
    "Face it, {G} {P}.",
    "Everybody knows {G} {P}.",
    "It's a fact that {G} {P}.",
    "{G} {P} and I'm tired of pretending otherwise.",
    "I don't care what HR says, {G} {P}.",
    "My view hasn't changed: {G} {P}.",
    "Sorry not sorry, but {G} {P}.",
    "The older I get the more I see it: {G} {P}.",
]
HATE_QUESTION_FRAMES = [
    "Why won't anyone admit that {G} {P}?",
    "Am I the only one who thinks {G} {P}?",
    "Isn't it obvious that {G} {P}?",
    "Can we finally agree that {G} {P}?",
    "Why is it so hard to say out loud that {G} {P}?",
    "Don't you think {G} {P}?",
    "Who else has noticed that {G} {P}?",
    "Wouldn't you agree that {G} {P}?",
]
HATE_PROFANE_FRAMES = [
    "Fucking {G} {P}.",
    "Fuck political correctness, {G} {P}.",
    "I don't give a shit what anyone says, {G} {P}.",
    "Let's cut the bullshit: {G} {P}.",
    "{G} {P}, and that's the fucking truth.",
]
THREAT_STATEMENT_FRAMES = [
    "{G} {P}.",
    "I mean it, {G} {P}.",
    "Mark my words, {G} {P}.",
    "All of them. {G} {P}.",
]

NEGATION_FRAMES = [
    "{G} {N}.",
    "To be clear, {G} {N}.",
    "No, {G} {N}.",
    "Let me be clear: {G} {N}.",
    "I don't think {G} {P}.",
    "It's simply not true that {G} {P}.",
    "I refuse to believe that {G} {P}.",
    "I have never believed that {G} {P}.",
    "Nobody here thinks {G} {P}.",
    "{G} {N}, whatever the trolls say.",
]
CONDEMN_FRAMES = [
    "Saying {G} {P} is just bigotry.",
    "Anyone who claims {G} {P} is spreading hate.",
    "It is not okay to say that {G} {P}.",
    "I'm sick of hearing people say {G} {P}. It's hateful and it's false.",
    "The idea that {G} {P} is a lie that has hurt a lot of people.",
    "Statements like \"{L}\" are hate speech and we don't tolerate them here.",
    "Claiming that {G} {P} says more about you than about them.",
    "We need to call it out every time someone says {G} {P}.",
]
QUOTE_FRAMES = [
    "Someone posted \"{L}\" in #general and the mods removed it.",
    "A customer told my colleague \"{L}\" and was asked to leave.",
    "I got a DM saying \"{L}\". How do I report it to HR?",
    "The graffiti on the bridge says \"{L}\". The council is cleaning it off today.",
    "My uncle keeps saying \"{L}\" at family dinners and I'm tired of arguing with him.",
    "The troll account replied \"{L}\" to my post, so I blocked and reported it.",
    "\"{L}\" is exactly the kind of message we remove from this workspace.",
    "We received hate mail that said \"{L}\". It has been passed to the police.",
    "Flagging this comment for moderation: \"{L}\"",
    "The screenshot in the report shows a user writing \"{L}\".",
]
REPORT_FRAMES = [
    "My coworker said that {G} {P}, and I told him that was out of line.",
    "A man on the train was shouting that {G} {P}. Nobody agreed with him.",
    "The article reports that a councillor claimed {G} {P}; he has since resigned.",
    "My neighbour told me {G} {P}, so I stopped talking to him.",
    "Some guy in the comments insisted that {G} {P}, and he got banned.",
    "The survey found that a small minority still think {G} {P}.",
    "In the video the speaker claims {G} {P}, and the crowd boos him.",
]
CRITICAL_QUESTION_FRAMES = [
    "Why do people still claim that {G} {P} when the evidence says otherwise?",
    "Where does the myth that {G} {P} even come from?",
    "Has anyone ever shown real evidence that {G} {P}? I doubt it.",
    "How can anyone seriously believe that {G} {P}?",
    "Why is the lie that {G} {P} still repeated so often?",
    "What would you say to someone who insists {G} {P}? I want to push back well.",
]
COUNTER_ARGUMENT_FRAMES = [
    "People say {G} {P}, but every study I've read shows the opposite.",
    "If you think {G} {P}, try actually getting to know a few of them.",
    "The claim that {G} {P} doesn't survive contact with reality.",
    "I used to think {G} {P}. I was wrong, and I'm embarrassed I ever believed it.",
    "Stereotypes like \"{L}\" fall apart once you look at the actual numbers.",
    "The people telling you {G} {P} usually want to sell you something.",
]
# A second hateful wording of a whole hateful line: {line} is the line.
LINE_WRAPPERS = ["Honestly? {line}", "Just saying. {line}", "Real talk. {line}", "{line} Just saying.",
                     "{line} Sorry, but it's true.", "{line} Don't @ me."]
# For whole hateful lines, which have no predicate, every counter-speech framing quotes the line.
LINE_COUNTER_FRAMES = [
    ("counter_condemn", "\"{L}\" is still prejudice, even when it's said with a smile."),
    ("counter_condemn", "Comments like \"{L}\" are exactly how casual bigotry spreads."),
    ("counter_condemn", "Please stop saying things like \"{L}\". It's hurtful."),
    ("counter_question", "Why do people think it's fine to say \"{L}\"? It isn't."),
    ("counter_question", "How would you feel if someone said \"{L}\" to your face?"),
    ("counter_report", "My landlord actually said \"{L}\" and I'm reporting him."),
    ("counter_report", "A manager told the interview panel \"{L}\" and he was suspended."),
    ("counter_quote", "Someone left a note saying \"{L}\" on our door. We've called the police."),
    ("counter_argument", "People who say \"{L}\" have usually never met the people they're talking about."),
]
THREAT_COUNTER_FRAMES = [
    ("counter_condemn", "Saying {G} {P} is a threat of violence and it's never acceptable."),
    ("counter_condemn", "Nobody should ever say {G} {P}. That's how violence starts."),
    ("counter_quote", "Someone spray-painted \"{L}\" on the community centre; police are investigating."),
    ("counter_quote", "I'm reporting this account, it posted \"{L}\" under the news story."),
    ("counter_report", "A man at the rally shouted that {G} {P}, and he was arrested."),
    ("counter_report", "The court heard that the defendant wrote online that {G} {P}."),
    ("counter_argument", "Whatever your politics, nobody can argue that {G} {P}."),
]
FIRST_PERSON_THREAT_COUNTER = [
    ("counter_report", "A guy at the bar said \"{L}\" so I called the police."),
    ("counter_quote", "This message in the group chat worries me: \"{L}\" Who do I report it to?"),
    ("counter_condemn", "Posting \"{L}\" is a criminal threat, not a joke."),
]

# Positive and neutral lines about a group. {G} plural, {one} "a ...", {iam} "I am ..." form.
GROUP_POSITIVE = [
    "{G} are brilliant colleagues.",
    "{G} are valued members of our community.",
    "{G} are just as capable as anyone else.",
    "{G} are human beings who deserve respect.",
    "{G} are welcome here.",
    "{G} are an important part of this company.",
    "{G} are strong and resilient.",
    "{G} are people, not stereotypes.",
    "I love working with {G}.",
    "{G} deserve equal rights and respect.",
    "{G} belong here as much as anyone else.",
    "We should listen to {G} more.",
    "I'm proud to stand with {G}.",
    "{G} have contributed so much to this country.",
    "Some of the smartest people I know are {G}.",
]
GROUP_SELF = [
    "I'm {iam} and proud of it.",
    "Being {iam} is a big part of who I am.",
    "I'm {iam}, and I'm not going anywhere.",
    "I am {iam}. Ask me anything about it, I'm happy to talk.",
    "As someone who is {iam}, I feel at home on this team.",
]
GROUP_NEUTRAL = [
    "My neighbour is {one}.",
    "Two of the new hires are {G}.",
    "The study surveyed two thousand {G} about their working lives.",
    "There's a panel with {G} from across the industry on Friday.",
    "I'm reading a memoir written by {one}.",
    "Our podcast this week features {one} talking about changing careers.",
    "How many {G} live in this city?",
    "Are there many {G} working in tech?",
    "What challenges do {G} face at work?",
    "Do {G} get enough support from employers?",
    "My manager is {one}.",
]
WORKPLACE_FRAMES = [
    "Is there an employee resource group for {G}?",
    "What's the right way to refer to {G} in our public docs?",
    "Can someone point me to our guidance on supporting {G} at work?",
    "How do we make our hiring process fairer for {G}?",
    "Who is organising the lunch-and-learn about {G} in the workplace?",
    "Does our benefits package cover anything specific for {G}?",
    "Do we track whether {G} are paid fairly compared with everyone else?",
    "I'm writing the onboarding guide. Is there anything specific we should include for {G}?",
]

# Slur families. {S} slur, {SP} plural slur.
SLUR_INSULT_FRAMES = [
    "Shut up, you {S}.",
    "Get out of my shop, you filthy {S}.",
    "Nobody wants you here, {S}.",
    "Look at that {S} trying to act like he belongs here.",
    "I'm not working on a team with some {S}.",
    "Go back to your hole, {S}.",
    "Who let the {S} into the meeting?",
    "Move, {S}, you're in my way.",
    "Typical {S}, can't even do one simple thing right.",
]
SLUR_GROUP_FRAMES = [
    "{SP} are all the same.",
    "There are too many {SP} in this town now.",
    "Keep the {SP} out of our school.",
    "{SP} ruin everything they touch.",
    "This whole street is full of {SP} now.",
    "Never trust {SP}.",
]
SLUR_PROFANE_FRAMES = [
    "Shut the fuck up, you {S}.",
    "Fucking {SP} everywhere you look.",
    "Get your {S} ass out of here.",
]
SLUR_MENTION_FRAMES = [
    "He called me a {S} in the car park and I reported it.",
    "The word \"{S}\" is a slur; please don't use it here.",
    "Someone wrote \"{S}\" on my locker. HR is investigating.",
    "Our moderation list already blocks \"{S}\" and its common misspellings.",
    "Using \"{S}\" as an insult is not acceptable at this company.",
    "Being called a {S} at school still affects me today.",
    "The history of the word \"{S}\" shows how slurs are used to dehumanise people.",
    "Should the word filter also catch \"{S}\" when people add spaces between the letters?",
]

# Insults at one person (no group). {name}, {who}, {adj}, {noun}.
NAMES = ["Dave", "Priya", "Tom", "Sarah", "Kevin", "Aisha", "Mark", "Lena", "Jordan", "Chris", "Megan",
         "Raj", "Olga", "Ben", "Fatima", "Luis", "Hannah", "Greg"]
WHO = ["My manager", "The new intern", "Our team lead", "The guy from accounts", "My landlord", "The referee",
       "That code reviewer", "The customer on line two", "My flatmate", "Our product owner"]
INSULT_NOUNS = ["idiot", "moron", "clown", "loser", "imbecile", "fool", "halfwit", "dimwit", "buffoon", "jerk",
                "numpty", "muppet", "waste of space", "nitwit"]
INSULT_ADJ = ["useless", "pathetic", "clueless", "brainless", "incompetent", "spineless", "worthless", "thick",
              "gutless", "hopeless"]
INSULT_FRAMES = [
    "{name} is a {adj} {noun}.",
    "You're a {adj} {noun}, {name}.",
    "Shut up, you {adj} {noun}.",
    "{who} is the biggest {noun} I have ever met.",
    "Honestly {name}, you are a {noun}. Every single time.",
    "Nobody cares what you think, you {noun}.",
    "Wow, {name}, what a {adj} {noun} you are.",
    "Only a {noun} like you could break the build twice in one day.",
    "{who} is a complete {noun} and everyone knows it.",
    "Get a clue, you {adj} {noun}.",
    "Reply to {name}: you are a {adj} {noun} and your code is a joke.",
    "{who} is so {adj} it's painful to watch.",
]
INSULT_PROFANE_FRAMES = [
    "You're a fucking {noun}, {name}.",
    "{name} is a {adj} piece of shit.",
    "Shut the fuck up, you {noun}.",
    "{who} is a fucking {noun}.",
    "What a {adj} dickhead you are, {name}.",
]
INSULT_NEGATED_FRAMES = [
    "{name} is not a {noun}, they just made a mistake.",
    "Please don't call {name} a {noun}.",
    "I would never call {name} a {noun}, they work harder than anyone.",
    "Calling {name} a {noun} in the review wasn't fair.",
    "{name} said I was a {noun}, which stung, but we talked it through.",
    "Is it okay to tell a colleague their code is bad without calling them a {noun}?",
]

# Anger at objects, software and situations: all-zero labels. {obj} is an object.
OBJECTS = ["printer", "VPN", "Jira board", "laptop", "coffee machine", "build server", "Wi-Fi", "spreadsheet",
           "deploy pipeline", "Outlook calendar", "lift", "badge reader", "microwave", "projector", "CI job",
           "Docker image", "staging cluster", "payment API", "mobile app", "keyboard", "test suite", "router"]
OBJECT_ANGER_FRAMES = [
    "I hate this {obj} so much.",
    "This {obj} is absolute garbage.",
    "The {obj} crashed again. What a useless piece of junk.",
    "I'm going to throw this {obj} out of the window.",
    "Kill it with fire. The {obj} is broken again.",
    "Why is this stupid {obj} so slow today?",
    "This {obj} is the worst thing ever invented.",
    "I want to smash the {obj} with a hammer.",
    "The {obj} is trash and I'm done with it.",
    "Whoever designed this {obj} should be ashamed, it's pathetic.",
    "I could scream, the {obj} ate my whole morning.",
    "Die, {obj}, die. Third reboot today.",
    "The {obj} is dead again, can someone kill and restart it?",
    "This {obj} is so dumb it makes me want to cry.",
]
SITUATION_ANGER = [
    "Mondays are the absolute worst.",
    "I hate traffic on the ring road, it's a nightmare every single day.",
    "This weather is disgusting, three weeks of rain.",
    "Tax season is killing me.",
    "I'm furious that the train got cancelled again.",
    "Merge conflicts are the bane of my existence.",
    "These stupid timezone bugs will be the death of me.",
    "Daylight saving time should be abolished, it's ridiculous.",
]

# Profanity with no target. Casual/expressive: obscene only. Aggressive (shouted, stacked, or a
# profane dismissal with no insult): obscene and toxicity. {obj} is an object, {event} an event.
EVENTS = ["demo", "release", "launch", "migration", "hackathon", "offsite", "quarterly review", "match"]
PROFANITY_CASUAL = [
    "Holy shit, the {event} actually worked!",
    "Fuck, I forgot my badge at home again.",
    "This {obj} is so fucking slow today.",
    "Shit, the {obj} just crashed.",
    "That {event} was fucking great, well done everyone.",
    "Well, shit. Looks like we're working this weekend.",
    "Fucking finally, the {obj} works.",
    "I'm so fucking tired today.",
    "No fucking way, we won the {event}!",
    "Shit happens, let's just redeploy.",
    "What the fuck just happened to the {obj}?",
    "Ugh, this {obj} is a pain in the ass.",
    "Bullshit, there's no way the {event} is tomorrow already.",
    "The {event} went fucking brilliantly, thanks all.",
    "Oh shit, I pushed to main by mistake.",
    "Damn, that's some good shit, the new {obj} is fast.",
    "Fuck me, that {event} went on forever.",
    "Shit, is the {event} today or tomorrow?",
    "Holy fuck, the {obj} is finally fixed.",
    "The {obj} is a total shitshow today.",
    "I fucking love the new {obj}.",
    "Fuck yeah, the {event} is done!",
    "Oh fuck, I left the {obj} running all weekend.",
    "Who designed this shitty {obj}?",
    "Sorry I'm late, the traffic was fucking awful.",
    "Ah shit, here we go again with the {obj}.",
    "That was a fucking close call on the {event}.",
    "My {obj} is fucked, can I borrow yours?",
]
PROFANITY_AGGRESSIVE = [
    "FUCK THIS FUCKING {OBJ}. FUCK IT ALL.",
    "Fuck off, I'm not doing your ticket.",
    "Shut the fuck up about the deadline already.",
    "Get the fuck out of my channel.",
    "Piss off and stop pinging me.",
    "I don't give a flying fuck, stop asking.",
    "Leave me the fuck alone.",
    "Fuck this shit, fuck this {obj}, fuck everything about this place.",
    "Who the fuck keeps breaking the {obj}? Fuck this.",
    "Shove your fucking {event} up your arse.",
    "Fuck off with your {event} invites, seriously.",
    "Stop fucking pinging me about the {obj}, Jesus fucking Christ.",
    "I swear to fucking god, if this {obj} breaks one more time I will lose my shit.",
    "Shut the fuck up and let me work.",
    "Get fucked, I'm not covering your on-call for the {event}.",
    "Fuck off and go bother someone else.",
    "Fuck this {event}, fuck this company, fuck all of it.",
    "Piss off with your fucking status updates.",
]

# Words that the obfuscator may disguise when they appear in a hateful line.
HOT_WORDS = ["kill", "killed", "shot", "shoot", "stab", "die", "vermin", "rats", "parasites", "subhuman",
             "animals", "terrorists", "criminals", "inferior", "filth", "scum", "trash", "exterminated",
             "hanged", "wiped", "cockroaches", "savages", "disease", "groomers", "thieves", "scammers",
             "predators", "dumb", "stupid", "fuck", "fucking", "shit", "gangs", "rapists", "garbage"]
PROFANE_WORDS = ["fuck", "fucking", "fucked", "shit", "shitty", "bullshit", "arse", "ass", "piss"]
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "g": "9", "l": "1"}
VOWELS = "aeiouAEIOU"
GROUP_STOPWORDS = {"people", "person", "with", "on", "the", "of", "a", "an", "in", "families"}

# ---------------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------------


def cap(text: str) -> str:
    """Capitalise the first character only (group names keep their own case)."""
    return text[:1].upper() + text[1:] if text else text


def fill(template: str, **slots: str) -> str:
    return cap(template.format(**slots))


def strip_stop(line: str) -> str:
    return line[:-1] if line.endswith(".") else line


def group_words(group: dict) -> list[str]:
    """The distinctive words of a group's names, for the obfuscator (e.g. "Muslims", "trans")."""
    words = []
    for form in group["plurals"] + [group["noun"]]:
        for word in re.findall(r"[A-Za-z][A-Za-z-]+", form):
            if word.lower() not in GROUP_STOPWORDS and word not in words:
                words.append(word)
    return words


def obfuscate_word(word: str, style: str, rng: random.Random) -> str:
    """Disguise one word the way people dodge word filters."""
    inner = list(range(1, len(word) - 1)) or [0]
    if style == "leet":
        chars = [LEET.get(c.lower(), c) if rng.random() < 0.6 else c for c in word]
        if "".join(chars) == word:
            i = next((k for k, c in enumerate(word) if c.lower() in LEET), None)
            if i is None:
                return word[:1] + "*" + word[2:]
            chars[i] = LEET[word[i].lower()]
        return "".join(chars)
    if style == "spaced":
        return " ".join(word)
    if style == "separated":
        return rng.choice(".-_").join(word)
    if style == "dropped" and len(word) >= 4:
        vowels = [i for i in inner if word[i] in VOWELS]
        i = rng.choice(vowels or inner)
        return word[:i] + word[i + 1:]
    if style == "doubled":
        i = rng.choice(inner)
        return word[:i] + word[i] * rng.choice((2, 3)) + word[i:]
    # asterisks (also the fallback for short words)
    vowels = [i for i in inner if word[i] in VOWELS] or inner
    picks = vowels if rng.random() < 0.4 else [rng.choice(vowels)]
    return "".join("*" if i in picks else c for i, c in enumerate(word))


OBFUSCATION_STYLES = ["leet", "spaced", "separated", "dropped", "doubled", "asterisk"]


def obfuscate(text: str, candidates: list[str], rng: random.Random) -> str | None:
    """Disguise one or two of ``candidates`` (slur, group word or hot word) found in ``text``."""
    found = []
    for word in candidates:
        match = re.search(r"\b" + re.escape(word) + r"\b", text, re.IGNORECASE)
        if match and match.group(0) not in found:
            found.append(match.group(0))
    if not found:
        return None
    chosen = rng.sample(found, 2 if len(found) > 1 and rng.random() < 0.3 else 1)
    style = rng.choice(OBFUSCATION_STYLES)
    for word in chosen:
        text = re.sub(r"\b" + re.escape(word) + r"\b", obfuscate_word(word, style, rng), text, count=1)
    return text


class Builder:
    """Collects rows, keeps the first of duplicate texts and refuses contradictory labels."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.seen: dict[str, dict[str, int]] = {}

    def add(self, text: str, label: dict[str, int], kind: str, target: str | None, family: str,
            rng: random.Random | None = None) -> None:
        if rng is not None and rng.random() < 0.1:  # informal casing, for both polarities alike
            text = strip_stop(text.lower())
        key = " ".join(text.lower().split()).rstrip(".!?")
        if key in self.seen:
            if self.seen[key] != label:
                raise ValueError(f"contradictory labels for {text!r}")
            return
        self.seen[key] = label
        self.rows.append({"text": text, "labels": dict(label), "kind": kind, "target": target, "family": family})


def family_rng(family: str) -> random.Random:
    return random.Random(f"{SEED}|{family}")


def pick(rng: random.Random, items: list, k: int) -> list:
    return rng.sample(items, min(k, len(items)))


def group_pool(group: dict) -> list[tuple[str, str]]:
    """All positive/neutral lines for a group, shuffled deterministically: (kind, text)."""
    rng = family_rng("pool|" + group["id"])
    pool = []
    for frame in GROUP_POSITIVE:
        pool.append(("group_positive", fill(frame, G=rng.choice(group["plurals"]))))
    if group["iam"]:
        for frame in GROUP_SELF:
            pool.append(("group_positive", fill(frame, iam=group["iam"])))
    for frame in GROUP_NEUTRAL:
        pool.append(("group_neutral", fill(frame, G=rng.choice(group["plurals"]), one=group["one"])))
    for line in group["neutral"]:
        pool.append(("group_neutral", line))
    rng.shuffle(pool)
    return pool


def claim_family(b: Builder, group: dict, family: str, ctype: str, pred: str, neg: str,
                 pool: list[tuple[str, str]]) -> None:
    """One hateful predicate about a group with its hateful framings and non-hateful twins."""
    rng = family_rng(family)
    gid = group["id"]
    hate = CLAIM_LABELS[ctype]
    bare = fill("{G} {P}.", G=group["plurals"][0], P=pred)
    quoted = strip_stop(bare)
    hateful: list[tuple[str, dict[str, int]]] = []

    def G() -> str:  # a plural form of the group's name, drawn afresh for every line
        return rng.choice(group["plurals"])

    def add_hate(text: str, kind: str, label: dict[str, int]) -> None:
        hateful.append((text, label))
        b.add(text, label, kind, gid, family, rng)

    if ctype.startswith("threat"):
        add_hate(bare, "hate_threat", hate)
        for frame in pick(rng, THREAT_STATEMENT_FRAMES[1:], 1):
            add_hate(fill(frame, G=G(), P=pred), "hate_threat", hate)
        for template, kills in pick(rng, FIRST_PERSON_THREATS, 2):
            label = CLAIM_LABELS["threat_kill" if kills else "threat"]
            add_hate(fill(template, G=G(), noun=group["noun"]), "hate_threat", label)
        b.add(fill("{G} {N}.", G=G(), N=neg), BENIGN, "counter_negation", gid, family, rng)
        for kind, frame in pick(rng, THREAT_COUNTER_FRAMES, 3):
            b.add(fill(frame, G=G(), P=pred, L=quoted), BENIGN, kind, gid, family, rng)
        kind, frame = rng.choice(FIRST_PERSON_THREAT_COUNTER)
        b.add(fill(frame, L=strip_stop(hateful[-1][0])), BENIGN, kind, gid, family, rng)
    else:
        add_hate(bare, CLAIM_KIND[ctype], hate)
        for frame in pick(rng, HATE_STATEMENT_FRAMES[1:], 2):
            add_hate(fill(frame, G=G(), P=pred), CLAIM_KIND[ctype], hate)
        add_hate(fill(rng.choice(HATE_QUESTION_FRAMES), G=G(), P=pred), "hate_question", hate)
        if rng.random() < 0.45:
            add_hate(fill(rng.choice(HATE_PROFANE_FRAMES), G=G(), P=pred), "hate_profane",
                     with_label(hate, "obscene"))
        b.add(fill("{G} {N}.", G=G(), N=neg), BENIGN, "counter_negation", gid, family, rng)
        for frame in pick(rng, NEGATION_FRAMES[1:], 2):
            b.add(fill(frame, G=G(), P=pred, N=neg), BENIGN, "counter_negation", gid, family, rng)
        for kind, frames in (("counter_condemn", CONDEMN_FRAMES), ("counter_quote", QUOTE_FRAMES),
                             ("counter_report", REPORT_FRAMES), ("counter_question", CRITICAL_QUESTION_FRAMES),
                             ("counter_argument", COUNTER_ARGUMENT_FRAMES)):
            b.add(fill(rng.choice(frames), G=G(), P=pred, L=quoted), BENIGN, kind, gid, family, rng)
    add_obfuscations(b, rng, family, gid, hateful, group_words(group))
    for _ in range(2):
        if pool:
            kind, text = pool.pop()
            b.add(text, BENIGN, kind, gid, family, rng)


def line_family(b: Builder, group: dict, family: str, line: str, counter: str, hate_kind: str,
                counter_kind: str, pool: list[tuple[str, str]]) -> None:
    """A whole hateful line (implicit derogation or open hatred) with its twin and quoted counter-speech."""
    rng = family_rng(family)
    gid = group["id"]
    hate = labels(*HATE)
    text = fill(line, G=rng.choice(group["plurals"]), one=group["one"])
    b.add(text, hate, hate_kind, gid, family, rng)
    second = fill(rng.choice(LINE_WRAPPERS).format(line=line), G=rng.choice(group["plurals"]),
                  one=group["one"])
    b.add(second, hate, hate_kind, gid, family, rng)
    b.add(fill(counter, G=rng.choice(group["plurals"]), one=group["one"]), BENIGN, counter_kind, gid,
          family, rng)
    for kind, frame in pick(rng, LINE_COUNTER_FRAMES, 3):
        b.add(fill(frame, L=strip_stop(text)), BENIGN, kind, gid, family, rng)
    add_obfuscations(b, rng, family, gid, [(text, hate)], group_words(group), count=1)
    if pool:
        kind, neutral = pool.pop()
        b.add(neutral, BENIGN, kind, gid, family, rng)


def add_obfuscations(b: Builder, rng: random.Random, family: str, target: str | None,
                     hateful: list[tuple[str, dict[str, int]]], words: list[str], count: int = 2) -> None:
    """Disguised copies of some hateful lines, each labelled exactly like the line it comes from."""
    for text, label in pick(rng, hateful, count):
        disguised = obfuscate(text, words + HOT_WORDS, rng)
        if disguised:
            b.add(disguised, label, "hate_obfuscated", target, family, rng)


def build_groups(b: Builder) -> None:
    for group in GROUPS:
        gid = group["id"]
        pool = group_pool(group)
        assign = family_rng("assign|" + gid)
        claims = [("stereotype", p, n) for p, n in group["claims"]]
        claims += [("stereotype", p, n) for p, n in pick(assign, GENERIC_STEREOTYPES, 2)]
        claims += [("dehumanise", p, n) for p, n in pick(assign, DEHUMANISING, 2)]
        for p, n, kills in pick(assign, GROUP_THREATS, 1):
            claims.append(("threat_kill" if kills else "threat", p, n))
        for i, (ctype, pred, neg) in enumerate(claims):
            claim_family(b, group, f"claim:{gid}:{i:02d}", ctype, pred, neg, pool)
        for i, (line, counter) in enumerate(pick(assign, IMPLICIT, 2)):
            line_family(b, group, f"implicit:{gid}:{i:02d}", line, counter, "hate_implicit", "implicit_contrast",
                        pool)
        for i, (line, counter) in enumerate(pick(assign, EXPLICIT_HATE, 1)):
            line_family(b, group, f"hatred:{gid}:{i:02d}", line, counter, "hate_statement", "counter_negation", pool)
        # workplace questions: a family of their own per group
        family = f"workplace:{gid}"
        rng = family_rng(family)
        for frame in pick(rng, WORKPLACE_FRAMES, 4):
            b.add(fill(frame, G=rng.choice(group["plurals"]), one=group["one"]), BENIGN, "workplace_group",
                  gid, family, rng)
        for line in group["work"]:
            b.add(line, BENIGN, "workplace_group", gid, family, rng)


def build_slurs(b: Builder) -> None:
    for slur, plural, gid, vulgar in SLURS:
        family = f"slur:{slur}"
        rng = family_rng(family)
        base = labels("toxicity", "identity_attack", "insult", *(["obscene"] if vulgar else []))
        hateful = []
        for frame in pick(rng, SLUR_INSULT_FRAMES, 4):
            hateful.append((fill(frame, S=slur), base, "slur_insult"))
        for frame in pick(rng, SLUR_GROUP_FRAMES, 3):
            hateful.append((fill(frame, SP=plural), with_label(base, "bias"), "slur_group"))
        for frame in pick(rng, SLUR_PROFANE_FRAMES, 1):
            about_group = "{SP}" in frame  # a generalisation about the group, not one person
            hateful.append((fill(frame, S=slur, SP=plural),
                            with_label(base, "obscene", *(["bias"] if about_group else [])),
                            "slur_group" if about_group else "slur_insult"))
        for text, label, kind in hateful:
            b.add(text, label, kind, gid, family, rng)
        for text, label, _kind in pick(rng, hateful, 3):
            disguised = obfuscate(text, [slur, plural], rng)
            if disguised:
                b.add(disguised, label, "hate_obfuscated", gid, family, rng)
        mentions = [fill(frame, S=slur) for frame in pick(rng, SLUR_MENTION_FRAMES, 5)]
        for text in mentions:
            b.add(text, BENIGN, "slur_mention", gid, family, rng)
        disguised = obfuscate(rng.choice(mentions), [slur], rng)
        if disguised:
            b.add(disguised, BENIGN, "obfuscated_counter", gid, family, rng)


def build_homonyms(b: Builder) -> None:
    for word, lines in HOMONYMS.items():
        family = f"homonym:{word}"
        rng = family_rng(family)
        for line in lines:
            b.add(line, BENIGN, "homonym", None, family, rng)


def build_objects(b: Builder) -> None:
    for i, frame in enumerate(OBJECT_ANGER_FRAMES):
        family = f"object:{i:02d}"
        rng = family_rng(family)
        for obj in pick(rng, OBJECTS, 12):
            b.add(fill(frame, obj=obj), BENIGN, "object_anger", None, family, rng)
    family = "object:situations"
    rng = family_rng(family)
    for line in SITUATION_ANGER:
        b.add(line, BENIGN, "object_anger", None, family, rng)


def build_profanity(b: Builder) -> None:
    for kind, frames, label, n in (
        ("profanity_casual", PROFANITY_CASUAL, labels("obscene"), 8),
        ("profanity_aggressive", PROFANITY_AGGRESSIVE, labels("toxicity", "obscene"), 6),
    ):
        for i, frame in enumerate(frames):
            family = f"{kind}:{i:02d}"
            rng = family_rng(family)
            for _ in range(n):
                obj, event = rng.choice(OBJECTS), rng.choice(EVENTS)
                b.add(fill(frame, obj=obj, OBJ=obj.upper(), event=event), label, kind, None, family, rng)
            # a filter-dodging spelling keeps the same labels
            obj = rng.choice(OBJECTS)
            text = fill(frame, obj=obj, OBJ=obj.upper(), event=rng.choice(EVENTS))
            disguised = obfuscate(text, PROFANE_WORDS, rng)
            if disguised:
                b.add(disguised, label, kind, None, family, rng)


def build_insults(b: Builder) -> None:
    for kind, frames, label, n in (
        ("insult_individual", INSULT_FRAMES, labels("toxicity", "insult"), 18),
        ("insult_individual", INSULT_PROFANE_FRAMES, labels("toxicity", "insult", "obscene"), 10),
        ("insult_negated", INSULT_NEGATED_FRAMES, BENIGN, 12),
    ):
        prefix = "insult_profane" if frames is INSULT_PROFANE_FRAMES else kind
        for i, frame in enumerate(frames):
            family = f"{prefix}:{i:02d}"
            rng = family_rng(family)
            for _ in range(n):
                text = fill(frame, name=rng.choice(NAMES), who=rng.choice(WHO), adj=rng.choice(INSULT_ADJ),
                            noun=rng.choice(INSULT_NOUNS))
                text = re.sub(r"\ba (?=idiot|imbecile|incompetent)", "an ", text)
                b.add(text, label, kind, None, family, rng)


def split_of(family: str) -> str:
    digest = hashlib.sha256(f"{SEED}|split|{family}".encode()).digest()
    return "dev" if int.from_bytes(digest[:8], "big") / 2**64 < DEV_FRACTION else "train"


def build() -> list[dict]:
    b = Builder()
    build_groups(b)
    build_slurs(b)
    build_insults(b)
    build_profanity(b)
    build_objects(b)
    build_homonyms(b)
    for row in b.rows:
        row["split"] = split_of(row["family"])
    return b.rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    toxic = sum(row["labels"]["toxicity"] for row in rows)
    print(f"wrote {len(rows)} rows to {OUT} ({toxic} toxic, {len(rows) - toxic} not toxic)")


if __name__ == "__main__":
    main()
