"""Build the round-2 context families ``context.jsonl`` for the guardrail classifier.

Run ``python src/decorum/guardrails/training/data/build_context.py``; it rewrites ``context.jsonl`` next
to this file byte for byte the same on every run (standard library only, fixed seed string, string-seeded
per-family random generators, no dependence on ``PYTHONHASHSEED``, the clock or the machine).
``--out PATH`` writes elsewhere; ``--counts`` prints the README's counts table instead of writing.

The families target the failures that remained after the first contrastive set (``contrastive.jsonl``,
same line format, same label rules): negated hate, slur homonyms, anger at things, counter-speech that
refers to or quotes someone else's hate, hate phrased as negated praise, implicit derogation, hateful
questions and pronouns that refer back to a group. Every family holds the same core words with opposite
labels, so the model has to learn stance and target rather than keywords. See README.md in this folder.

Every template and word list below was written from scratch for this file. It was written without
reading the texts of the held-out functional suite (``tests/functional/hate_suite.jsonl``); the test
``tests/test_context_data.py`` checks that no text here occurs in that suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import Counter
from pathlib import Path

SEED = "decorum-context-round2-v1"
DEV_FRACTION = 0.10
OUT = Path(__file__).with_name("context.jsonl")

LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "bias")


def labels(*names: str) -> dict[str, int]:
    """A label dict with the named labels set to 1 and every other label 0."""
    unknown = set(names) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown labels {unknown}")
    return {name: int(name in names) for name in LABELS}


def with_label(base: dict[str, int], *names: str) -> dict[str, int]:
    return {name: 1 if name in names else value for name, value in base.items()}


BENIGN = labels()
HATE = ("toxicity", "identity_attack", "bias")
# The label rules of contrastive.jsonl (README "Labelling rules" 1-5).
CLAIM_LABELS = {
    "stereotype": labels(*HATE),
    "dehumanise": labels(*HATE, "insult"),
    "threat": labels(*HATE, "threat"),
    "threat_kill": labels(*HATE, "threat", "severe_toxicity"),
}
SLUR_PERSON = labels("toxicity", "identity_attack", "insult")
SLUR_GROUP = labels("toxicity", "identity_attack", "insult", "bias")
INSULT_PERSON = labels("toxicity", "insult")
OBSCENE_ONLY = labels("obscene")

# (kind, polarity) of every kind in the file, in the order of the README table.
KINDS = [
    ("negated_hate", "benign"), ("hate_affirmed", "hateful"),
    ("negated_praise", "hateful"), ("praise_twin", "benign"),
    ("homonym", "benign"), ("homonym_slur", "hateful"),
    ("object_anger", "benign"), ("anger_group", "hateful"), ("anger_person", "toxic"),
    ("counter_reference", "benign"), ("endorse_reference", "hateful"),
    ("counter_quote", "benign"), ("endorse_quote", "hateful"),
    ("implicit_derogation", "hateful"), ("implicit_neutral", "benign"),
    ("hate_question", "hateful"), ("sincere_question", "benign"),
    ("pronoun_hate", "hateful"), ("pronoun_benign", "benign"),
]

# ---------------------------------------------------------------------------------------------------
# Groups: the group ids of contrastive.jsonl, with plural forms and an "a ..." form.
# ---------------------------------------------------------------------------------------------------

GROUPS = [
    ("women", "gender", ["women"], "a woman"),
    ("men", "gender", ["men"], "a man"),
    ("trans_people", "gender_identity", ["trans people", "transgender people"], "a trans person"),
    ("trans_women", "gender_identity", ["trans women"], "a trans woman"),
    ("nonbinary", "gender_identity", ["non-binary people", "nonbinary people"], "a non-binary person"),
    ("black_people", "race", ["Black people", "black people"], "a Black person"),
    ("white_people", "race", ["white people"], "a white person"),
    ("asian_people", "race", ["Asian people", "Asians"], "an Asian person"),
    ("chinese_people", "nationality", ["Chinese people"], "a Chinese person"),
    ("latinos", "ethnicity", ["Latinos", "Hispanic people"], "a Latino"),
    ("mexicans", "nationality", ["Mexicans"], "a Mexican"),
    ("native_americans", "ethnicity", ["Native Americans", "Indigenous Americans"], "a Native American"),
    ("roma", "ethnicity", ["Roma people", "Roma"], "a Roma person"),
    ("arabs", "ethnicity", ["Arabs", "Arab people"], "an Arab"),
    ("muslims", "religion", ["Muslims"], "a Muslim"),
    ("jews", "religion", ["Jews", "Jewish people"], "a Jewish person"),
    ("christians", "religion", ["Christians"], "a Christian"),
    ("hindus", "religion", ["Hindus", "Hindu people"], "a Hindu"),
    ("sikhs", "religion", ["Sikhs", "Sikh people"], "a Sikh"),
    ("atheists", "religion", ["atheists"], "an atheist"),
    ("catholics", "religion", ["Catholics"], "a Catholic"),
    ("immigrants", "immigration", ["immigrants", "migrants"], "an immigrant"),
    ("refugees", "immigration", ["refugees", "asylum seekers"], "a refugee"),
    ("pakistanis", "nationality", ["Pakistanis", "Pakistani people"], "a Pakistani"),
    ("nigerians", "nationality", ["Nigerians", "Nigerian people"], "a Nigerian"),
    ("polish_people", "nationality", ["Polish people", "Poles"], "a Polish person"),
    ("indians", "nationality", ["Indians", "Indian people"], "an Indian person"),
    ("disabled_people", "disability", ["disabled people", "people with disabilities"], "a disabled person"),
    ("autistic_people", "disability", ["autistic people", "people with autism"], "an autistic person"),
    ("deaf_people", "disability", ["deaf people", "Deaf people"], "a deaf person"),
    ("blind_people", "disability", ["blind people", "visually impaired people"], "a blind person"),
    ("wheelchair_users", "disability", ["wheelchair users", "people in wheelchairs"], "a wheelchair user"),
    ("mentally_ill", "disability", ["people with mental illness", "mentally ill people"],
     "someone with a mental illness"),
    ("down_syndrome", "disability", ["people with Down syndrome"], "someone with Down syndrome"),
    ("elderly", "age", ["old people", "elderly people", "pensioners"], "an old person"),
    ("young_people", "age", ["young people", "teenagers", "millennials"], "a young person"),
    ("gay_people", "sexual_orientation", ["gay people", "homosexuals"], "a gay person"),
    ("gay_men", "sexual_orientation", ["gay men"], "a gay man"),
    ("lesbians", "sexual_orientation", ["lesbians", "lesbian women"], "a lesbian"),
    ("bisexual_people", "sexual_orientation", ["bisexual people", "bisexuals"], "a bisexual person"),
    ("poor_people", "socioeconomic", ["poor people", "low-income families"], "a poor person"),
    ("homeless_people", "socioeconomic", ["homeless people", "rough sleepers"], "a homeless person"),
    ("welfare_recipients", "socioeconomic", ["people on welfare", "benefit claimants"], "someone on welfare"),
]

# ---------------------------------------------------------------------------------------------------
# Hateful predicates about a group: (predicate, claim type). Category predicates come first in a
# group's pool; the generic ones fit any group.
# ---------------------------------------------------------------------------------------------------

CATEGORY_CLAIMS = {
    "gender": [("belong at home and nowhere near a boardroom", "stereotype"),
               ("are ruled by their hormones", "stereotype")],
    "gender_identity": [("are sick in the head", "stereotype"),
                        ("are a threat to every child they meet", "stereotype")],
    "race": [("are genetically less capable", "stereotype"),
             ("are thugs from the day they are born", "stereotype")],
    "ethnicity": [("steal whatever they can carry", "stereotype"),
                  ("have never built a decent society", "stereotype")],
    "nationality": [("come here to rob us blind", "stereotype"),
                    ("are dishonest down to the last one", "stereotype")],
    "religion": [("are brainwashed fanatics", "stereotype"),
                 ("cannot be loyal to anyone outside their faith", "stereotype")],
    "immigration": [("are here to sponge off us", "stereotype"),
                    ("are an invading army", "stereotype")],
    "disability": [("are a waste of money and space", "stereotype"),
                   ("should be hidden away from normal people", "stereotype")],
    "age": [("are a useless drain on everyone else", "stereotype"),
            ("are too thick to be worth listening to", "stereotype")],
    "sexual_orientation": [("are perverts who should be kept from children", "stereotype"),
                           ("are a sickness that needs curing", "stereotype")],
    "socioeconomic": [("are scroungers who never lift a finger", "stereotype"),
                      ("deserve every bit of their misery", "stereotype")],
}

GENERIC_CLAIMS = [
    ("are born thieves", "stereotype"),
    ("are too lazy to hold down a job", "stereotype"),
    ("are a danger to everyone around them", "stereotype"),
    ("can't be trusted with money", "stereotype"),
    ("are stupider than the rest of us", "stereotype"),
    ("bring crime to every street they live on", "stereotype"),
    ("are wrecking this town", "stereotype"),
    ("don't belong in this country", "stereotype"),
    ("are liars and cheats", "stereotype"),
    ("should be kept out of our schools", "stereotype"),
    ("are unfit to raise children", "stereotype"),
    ("are a burden on the taxpayer", "stereotype"),
    ("are worse at every job they are given", "stereotype"),
    ("only ever care about themselves", "stereotype"),
    ("are morally inferior", "stereotype"),
    ("are aggressive by nature", "stereotype"),
    ("are incapable of learning anything", "stereotype"),
    ("deserve to be second-class citizens", "stereotype"),
    ("should be barred from public office", "stereotype"),
    ("are to blame for every problem we have", "stereotype"),
    ("are too backward for modern life", "stereotype"),
    ("are freeloaders, all of them", "stereotype"),
    ("are no better than rats", "dehumanise"),
    ("are an infestation", "dehumanise"),
    ("are less than human", "dehumanise"),
    ("are like insects", "dehumanise"),
    ("are leeches on this country", "dehumanise"),
    ("are a herd of animals", "dehumanise"),
    ("are a rot spreading through the country", "dehumanise"),
    ("should be shot on sight", "threat_kill"),
    ("should be wiped off the map", "threat_kill"),
    ("deserve a good kicking", "threat"),
    ("should be chased out of town with sticks", "threat"),
]

# ---------------------------------------------------------------------------------------------------
# negated_hate: (negated framing, hateful affirmative twin) around the same predicate.
# ---------------------------------------------------------------------------------------------------

NEGATION_PAIRS = [
    ("I would never say that {G} {P}.", "I would happily say it again: {G} {P}."),
    ("I don't think {G} {P}.", "I really do think {G} {P}."),
    ("It's false that {G} {P}.", "It's a plain fact that {G} {P}."),
    ("Nobody here believes {G} {P}.", "Everybody here knows {G} {P}."),
    ("I used to think {G} {P}, and I was wrong.", "I used to doubt that {G} {P}, but now I'm sure of it."),
    ("It's not true that {G} {P}.", "It's completely true that {G} {P}."),
    ("I don't believe for a second that {G} {P}.", "I believe with all my heart that {G} {P}."),
    ("There is no truth in the claim that {G} {P}.", "There is a lot of truth in the claim that {G} {P}."),
    ("I have never once thought that {G} {P}.", "I have always thought that {G} {P}."),
    ("None of my friends think {G} {P}.", "All of my friends agree that {G} {P}."),
    ("You will never hear me say that {G} {P}.", "You will always hear me say that {G} {P}."),
    ("It would be a lie to say that {G} {P}.", "It would be a lie to deny that {G} {P}."),
    ("I reject the idea that {G} {P}.", "I fully accept the idea that {G} {P}."),
    ("No sensible person believes {G} {P}.", "Any sensible person can see {G} {P}."),
    ("Not for one moment do I accept that {G} {P}.", "For years now I've known that {G} {P}."),
    ("Do I think {G} {P}? No, and I never will.", "Do I think {G} {P}? Yes, and I always will."),
    ("I was raised to believe {G} {P}, but I don't believe it any more.",
     "I was raised to believe {G} {P}, and I still do."),
    ("Whoever told you {G} {P} was lying to you.", "Whoever told you {G} {P} was telling you the truth."),
    ("It simply isn't the case that {G} {P}.", "It is simply the case that {G} {P}."),
    ("I'm not one of those people who think {G} {P}.", "I'm one of those people who think {G} {P}, and proud of it."),
    ("Let me be clear: I don't agree that {G} {P}.", "Let me be clear: I agree that {G} {P}."),
    ("Please don't assume I think {G} {P}. I don't.", "Yes, I think {G} {P}. Don't act so shocked."),
    ("The idea that {G} {P} is wrong, full stop.", "The idea that {G} {P} is right, full stop."),
    ("Our family has never believed that {G} {P}.", "Our family has always believed that {G} {P}."),
    ("I'd never claim {G} {P}, because it isn't so.", "I'll always claim {G} {P}, because it is so."),
    ("Nothing I've seen suggests {G} {P}.", "Everything I've seen tells me {G} {P}."),
]

# ---------------------------------------------------------------------------------------------------
# negated_praise: (hateful negated praise, praise twin, twin that negates something harmless or None,
# dehumanising?). {G} group, {T} a harmless thing (singular).
# ---------------------------------------------------------------------------------------------------

NEGATED_PRAISE = [
    ("{G} are not people I could ever respect.", "{G} are people I have always respected.",
     "{T} is not something I could ever respect.", False),
    ("I can't think of one good thing about {G}.", "I can think of plenty of good things about {G}.",
     "I can't think of one good thing about {T}.", False),
    ("{G} have never contributed anything worth mentioning.", "{G} have contributed more than most people realise.",
     "{T} has never contributed anything worth mentioning.", False),
    ("There is nothing admirable about {G}, nothing at all.", "There is a lot to admire about {G}.",
     "There is nothing admirable about {T}, nothing at all.", False),
    ("{G} aren't capable of doing anything right.", "{G} are capable of anything they set their minds to.",
     "{T} isn't capable of doing anything right.", False),
    ("{G} don't deserve anyone's kindness.", "{G} deserve the same kindness as anyone.", None, False),
    ("Nothing good has ever come from {G}.", "So much good has come from {G}.",
     "Nothing good has ever come from {T}.", False),
    ("{G} will never be equal to the rest of us.", "{G} have always been equal to the rest of us.", None, False),
    ("I wouldn't trust {G} with a single thing.", "I'd trust {G} with anything.",
     "I wouldn't trust {T} with a single thing.", False),
    ("{G} have no talents worth speaking of.", "{G} have talents worth celebrating.", None, False),
    ("{G} are not worth a minute of anyone's time.", "{G} are well worth listening to.",
     "{T} is not worth a minute of anyone's time.", False),
    ("I have no respect whatsoever for {G}.", "I have nothing but respect for {G}.",
     "I have no respect whatsoever for {T}.", False),
    ("{G} have never once made this country better.", "{G} have made this country better in countless ways.",
     None, False),
    ("I don't see anything human in {G}.", "I see the same humanity in {G} as in anyone.", None, True),
    ("{G} aren't smart enough to do a real job.", "{G} are more than smart enough for any job here.", None, False),
    ("Not one of the {G} I've met had a shred of decency.", "Every one of the {G} I've met has been decent to me.",
     None, False),
    ("{G} have nothing to offer anyone.", "{G} have so much to offer.", "{T} has nothing to offer anyone.", False),
    ("{G} are never going to be good enough for this company.",
     "{G} have always been good enough for this company.", None, False),
    ("{G} don't have a single redeeming quality.", "{G} have plenty of good qualities, like anyone.",
     "{T} doesn't have a single redeeming quality.", False),
    ("{G} can't be counted on for anything.", "{G} can be counted on, in my experience.",
     "{T} can't be counted on for anything.", False),
    ("{G} bring nothing of value to this office.", "{G} bring a lot of value to this office.",
     "{T} brings nothing of value to this office.", False),
    ("I could never see {G} as my equals.", "I have always seen {G} as my equals.", None, False),
    ("{G} are not worth the food they eat.", "{G} are worth every bit of support they get.", None, True),
    ("I've never heard {G} say one intelligent thing.", "I've heard {G} say a lot of intelligent things.",
     "I've never heard {T} do one useful thing.", False),
]
# Benign negations of something harmful about the group, one per family.
HARMLESS_NEGATIONS = [
    "{G} are not people anyone should be afraid of.",
    "I can't think of one good reason to exclude {G}.",
    "{G} have never done anything to deserve this hate.",
    "Nothing about {G} justifies how they get treated online.",
    "I would never refuse to work with {G}.",
    "There is nothing about {G} that needs fixing.",
    "I can't think of anything {G} have taken from me.",
    "There is nothing wrong with {G}, nothing at all.",
]
HARMLESS_THINGS = [
    "Pineapple on pizza", "The new expense tool", "This printer", "Decaf coffee", "The office playlist",
    "The reply-all button", "The parking policy", "Our old CI setup", "Motorway traffic", "The Tuesday curry",
    "The fax machine", "Comic Sans", "The new login page", "Daylight saving time", "The open-plan layout",
    "This weather", "The Monday standup", "The hotel breakfast", "The team chat bot", "Our old intranet",
]

# ---------------------------------------------------------------------------------------------------
# homonym: ordinary senses of words that are also slurs, with a hateful use of the same word.
# word -> (group id, vulgar?, benign lines, [(hateful line, "person" | "group" | "dehumanise" | "hate")])
# ---------------------------------------------------------------------------------------------------

HOMONYMS = {
    "faggot": ("gay_men", False, [
        "We had faggots in gravy with mushy peas at the pub in Wolverhampton.",
        "My gran's faggot recipe uses pig's liver, onion and plenty of sage.",
        "The supermarket sells frozen faggots in packs of eight.",
        "The re-enactors carried a faggot of hazel sticks to light the bread oven.",
        "In the old estate records, a faggot was a bundle of sticks bound for firewood.",
        "The blacksmith stacked faggots of brushwood beside the forge.",
    ], [("Get away from me, you faggot.", "person"), ("I won't have faggots in my house.", "group"),
        ("Faggots like him should never be let near a school.", "group")]),
    "fag": ("gay_people", False, [
        "He stepped outside for a fag and came back soaked.",
        "She rolled a fag and sat on the wall outside the pub.",
        "Who left a fag burning in the ashtray by the door?",
        "I've gone from twenty fags a day to none in three months.",
        "It's a bit of a fag having to log in twice every morning.",
    ], [("Shut your mouth, fag.", "person"), ("Fags don't belong in this locker room.", "group")]),
    "dyke": ("lesbians", False, [
        "The cyclists rode along the top of the dyke with the polder below them.",
        "Farmers raised the dyke after the spring floods.",
        "The volcanic dyke shows up as a dark band across the cliff face.",
        "Devil's Dyke near Brighton has a great view over the Weald.",
        "The drainage dyke at the bottom of the field was full of frogspawn.",
    ], [("Keep your opinions to yourself, dyke.", "person"), ("Dykes like her are ruining women's sport.", "group")]),
    "bitch": ("women", True, [
        "The bitch is due to whelp next week, so the puppy pen is ready.",
        "Our collie bitch won best of breed at the county show.",
        "The vet recommends spaying a bitch after her first season.",
        "The kennel club registered the litter under the bitch's name.",
        "A bitch in season should be kept away from entire dogs.",
    ], [("Shut up and get back to the kitchen, bitch.", "person"),
        ("Women are all lying bitches.", "group")]),
    "spook": ("black_people", False, [
        "The kids dressed up as spooks for Halloween and went door to door.",
        "The old lighthouse is said to have a spook who rattles the shutters.",
        "A sudden gust spooked the horse and it bolted across the field.",
        "He spent thirty years as a spook in military intelligence before writing novels.",
        "Don't let one bad quarter spook the investors.",
        "The fireworks spooked the dog and she hid under the bed.",
    ], [("Some spook moved in next door, so hide your valuables.", "person"),
        ("Spooks like him don't belong in this neighbourhood.", "group")]),
    "retard": ("disabled_people", False, [
        "The curtains are treated with a flame retardant.",
        "Retard the ignition timing a couple of degrees if the engine starts knocking.",
        "The mechanic said the retarded ignition timing explained the poor fuel economy.",
        "Adding a set retarder gives the plasterers longer to work.",
        "Cold temperatures retard the fermentation, so the dough rises slowly overnight.",
        "Fire-retardant foam was sprayed over the fuel spill.",
    ], [("Even a retard like you should be able to follow the instructions.", "person"),
        ("Retards shouldn't be allowed to have kids.", "group")]),
    "gay": ("gay_people", False, [
        "The old poem describes the village green as gay with flags and ribbons.",
        "Her grandmother's diary describes a gay evening of dancing and cards.",
        "The Gay Gordons is a Scottish country dance we learned at school.",
        "In the Victorian novel the heroine is young, gay and full of mischief.",
        "The garden was gay with tulips, as the old caption puts it.",
    ], [("Gay people are disgusting and should be kept away from kids.", "hate"),
        ("Stop acting so gay, you make me sick.", "person")]),
    "oriental": ("asian_people", False, [
        "We bought an oriental rug for the hallway at the auction.",
        "The Oriental Shorthair is a very chatty breed of cat.",
        "The oriental poppies in the border are flowering early.",
        "The antique dealer specialises in oriental carpets from Persia.",
        "Oriental rugs should be rotated every year so they wear evenly.",
    ], [("Orientals are all the same, sneaky and cold.", "group"),
        ("Go back to your paddy field, you oriental.", "person")]),
    "coon": ("black_people", False, [
        "A coon knocked the lid off the compost bin again.",
        "The Maine Coon at the shelter is the size of a small dog.",
        "We heard coons squabbling under the porch all night.",
        "The kids watched a coon washing its paws in the creek.",
        "The coon hound picked up a scent by the river.",
    ], [("Look at that coon strutting around like he owns the place.", "person"),
        ("Coons always bring trouble to a neighbourhood.", "group")]),
    "chink": ("chinese_people", False, [
        "Light came through a chink in the curtains at dawn.",
        "The chink of coins in the jar told me the kids had been saving.",
        "Their defence has one chink, and it's the left back.",
        "Find the chink in the argument before the committee does.",
        "Plug the chink under the door to stop the draught.",
    ], [("That chink at the till short-changed me on purpose.", "person"),
        ("Chinks are taking over every high street.", "group")]),
    "spade": ("black_people", False, [
        "Sharpen the spade before you start on the clay.",
        "She trumped my king with a low spade.",
        "We need a spade and a fork to dig the vegetable patch.",
        "I got a new border spade for my birthday, very exciting.",
        "He called a spade a spade in the retro, which was refreshing.",
    ], [("We don't rent to spades, tell him the flat's gone.", "group"),
        ("A spade like him will never run this department.", "person")]),
    "cracker": ("white_people", False, [
        "Put some crackers and brie out for the guests.",
        "The Christmas cracker had a paper crown and a terrible joke.",
        "That was a cracker of a match last night.",
        "The firework display finished with a huge cracker.",
        "Rye crackers with smoked mackerel make a good lunch.",
    ], [("Get off my street, cracker.", "person"), ("Crackers are all inbred racists.", "group")]),
    "queer": ("gay_people", False, [
        "The old farmer said he felt a bit queer after the long walk.",
        "In the Victorian novel, a queer fellow arrives at the inn at midnight.",
        "My grandad's favourite saying was that there's nowt so queer as folk.",
        "The milk tastes queer, check the date before you drink it.",
        "The old guidebook calls the rock formation a queer sight on the skyline.",
    ], [("Get out of my pub, you filthy queer.", "person"), ("Queers are a danger to children.", "group")]),
    "homo": ("gay_people", False, [
        "Homo sapiens first appeared in Africa around three hundred thousand years ago.",
        "The lecture compared Homo neanderthalensis with our own species.",
        "Homogenised milk has the fat broken into tiny droplets.",
        "The prefix homo- means 'same', as in homophone.",
        "Homo erectus used fire long before our own species appeared.",
    ], [("No homos on my team, end of.", "group"), ("Some homo tried to chat me up, disgusting.", "person")]),
    "tranny": ("trans_women", False, [
        "The tranny on my old Land Rover needs a rebuild.",
        "He still has the tranny radio he took camping in 1972.",
        "Check the tranny fluid level when the engine is warm.",
        "The gearbox shop quoted four hundred quid to fix the tranny.",
        "My first car had a manual tranny and no power steering.",
    ], [("That tranny in accounts should use the men's toilets.", "person"),
        ("Trannies are freaks who prey on kids.", "group")]),
    "gypsy": ("roma", False, [
        "The gypsy moth caterpillars stripped the oak in our garden.",
        "We saw a gypsy jazz trio play in a tiny bar in Paris.",
        "The guitarist plays gypsy swing on a Selmer-style guitar.",
        "Foresters are tracking the spread of the gypsy moth, now called the spongy moth.",
        "Gypsy moth eggs overwinter in fuzzy clumps on the tree bark.",
    ], [("Gypsies steal anything that isn't nailed down.", "group"),
        ("Watch your car, some gypsy's been hanging around.", "person")]),
    "redskin": ("native_americans", False, [
        "Roast the redskin potatoes with garlic and thyme.",
        "Redskin peanuts are my favourite bar snack.",
        "Cut the redskins into wedges and leave the skins on.",
        "The farm shop had a sack of redskin potatoes on offer.",
    ], [("That redskin at the petrol station is drunk again.", "person"),
        ("Redskins are all drunks living on handouts.", "group")]),
    "monkey": ("black_people", False, [
        "Pass me the monkey wrench from the van.",
        "The kids spent an hour on the monkey bars.",
        "The monkeys at the safari park pulled the wipers off our car.",
        "He paid a monkey, five hundred quid, for that old motorbike.",
        "Stop monkeying around and finish the report.",
    ], [("Go back to the jungle, you monkey.", "person"),
        ("Black people are monkeys, just look at them.", "dehumanise")]),
    "slope": ("asian_people", False, [
        "The slope behind the chalet is perfect for beginners.",
        "Work out the slope of the regression line.",
        "Careful, the path has a steep slope after the gate.",
        "The roof slope is too shallow for slate tiles.",
        "The car park is on a slope, so leave it in gear.",
    ], [("Some slope cut me up on the motorway.", "person"), ("Slopes can't drive, everyone knows it.", "group")]),
    "cripple": ("disabled_people", False, [
        "The outage crippled the booking system for a whole afternoon.",
        "A cripple rafter runs from the hip rafter down to the wall plate.",
        "Fit a cripple stud under the window sill.",
        "Debt repayments crippled the club for years.",
        "The storm crippled power lines across the county.",
    ], [("Get out of my way, you cripple.", "person"), ("Cripples are a drain on the rest of us.", "group")]),
    "spastic": ("disabled_people", False, [
        "Spastic diplegia is a form of cerebral palsy that mainly affects the legs.",
        "The physio is working on reducing the spasticity in his arm.",
        "Spastic colon is an old name for irritable bowel syndrome.",
        "The neurologist noted spastic tone in both lower limbs.",
        "Botox injections can ease spastic muscles after a stroke.",
    ], [("Watch where you're going, you spastic.", "person"),
        ("Spastics should be kept out of mainstream schools.", "group")]),
    "fairy": ("gay_men", False, [
        "String the fairy lights along the fence for the party.",
        "We made fairy cakes with pink icing for the bake sale.",
        "The kids left a note for the tooth fairy.",
        "A fairy ring of mushrooms appeared on the lawn overnight.",
        "The panto this year has a fairy godmother on a zip wire.",
    ], [("Shut up, you fairy, nobody asked you.", "person"),
        ("Fairies like him shouldn't be coaching boys.", "group")]),
    "pansy": ("gay_men", False, [
        "I planted yellow pansies in the hanging baskets.",
        "Pansies survive the frost better than most bedding plants.",
        "The cake was decorated with crystallised pansy petals.",
        "Deadhead the pansies and they'll keep flowering until autumn.",
    ], [("Don't cry about it, you pansy.", "person"), ("Pansies like him should stay in the closet.", "group")]),
    "bender": ("gay_men", False, [
        "We hired a pipe bender to make the handrail.",
        "He went on a three-day bender after the cup final.",
        "The plumber used a spring bender on the copper pipe.",
        "The tool shop rents out a rebar bender by the day.",
    ], [("That bender shouldn't be allowed in the changing rooms.", "person"),
        ("Benders are perverts, the lot of them.", "group")]),
    "bent": ("gay_men", False, [
        "The fork in the drawer is bent, so I used the other one.",
        "The old detective show was about a bent copper taking bribes.",
        "She bent the wire into a hook and fished the key out.",
        "My bike wheel got bent when I hit the kerb.",
        "He's bent on finishing the marathon this year.",
    ], [("He's bent, keep him away from the lads.", "person"),
        ("Bent blokes like him shouldn't be teachers.", "group")]),
    "chinaman": ("chinese_people", False, [
        "In cricket, a chinaman is the old name for a left-arm wrist-spin delivery.",
        "The commentators now call the chinaman a left-arm unorthodox ball.",
        "He bowled a chinaman that turned sharply into the batter.",
    ], [("That Chinaman at the takeaway gave me the wrong change on purpose.", "person"),
        ("Chinamen are all sneaky and never tell the truth.", "group")]),
    "ape": ("black_people", False, [
        "The great ape house at the zoo has a new family of orangutans.",
        "My boss went ape when the demo crashed.",
        "Gorillas are the largest of the great apes.",
        "The documentary follows a troop of apes in the rainforest.",
    ], [("Go climb a tree, you ape.", "person"), ("Black people are nothing but apes in clothes.", "dehumanise")]),
    "savage": ("native_americans", False, [
        "That review of the film was savage.",
        "A savage frost killed off the tomato plants.",
        "The comedian's roast of the host was absolutely savage.",
        "The team suffered a savage defeat in the final.",
    ], [("Native Americans are savages who never deserved the land.", "dehumanise"),
        ("Look at that savage with his feathers and war paint.", "person")]),
    "oreo": ("black_people", False, [
        "Dunk the Oreos in milk for a few seconds.",
        "The cheesecake has a crushed Oreo base.",
        "The kids built a tower out of Oreo biscuits.",
    ], [("He's such an Oreo, black outside and white inside.", "person"),
        ("Oreos like him sell out their own people.", "group")]),
    "poof": ("gay_men", False, [
        "You press the button and, poof, the whole spreadsheet is gone.",
        "The magician waved his wand and poof, the rabbit vanished.",
        "Poof! There goes my weekend.",
        "One power cut and poof, three hours of unsaved work vanished.",
    ], [("Get that poof out of my pub.", "person"), ("Poofs like him make me sick.", "group")]),
}

# ---------------------------------------------------------------------------------------------------
# object_anger: (frame at a thing {X}, same words at a group {G}, group claim type, profane?,
# same words at a person {name} or None). The thing line is all zero (obscene only when profane);
# the group line is hate; the person line is toxic but not hate (toxicity, insult).
# ---------------------------------------------------------------------------------------------------

OBJECT_FRAMES = [
    ("I hate this {X} with a passion.", "I hate {G} with a passion.", "stereotype", False,
     "I hate {name} with a passion."),
    ("This {X} is a useless pile of junk.", "{G} are a useless pile of junk.", "dehumanise", False,
     "{name} is a useless pile of junk."),
    ("I want to kill this {X}.", "I want to kill all {G}.", "threat_kill", False, None),
    ("This fucking {X} is useless.", "These fucking {G} are useless.", "stereotype", True,
     "{name} is fucking useless."),
    ("This f***ing {X} is garbage.", "These f***ing {G} are garbage.", "dehumanise", True,
     "{name} is f***ing garbage."),
    ("Someone put this {X} out of its misery.", "Someone put {G} out of their misery.", "threat_kill", False, None),
    ("I'm going to take a hammer to this {X}.", "I'm going to take a hammer to {G}.", "threat", False, None),
    ("This {X} is disgusting and I can't stand it.", "{G} are disgusting and I can't stand them.", "stereotype",
     False, "{name} is disgusting and I can't stand them."),
    ("This {X} belongs in the bin.", "{G} belong in the bin.", "dehumanise", False, "{name} belongs in the bin."),
    ("This {X} is pure evil.", "{G} are pure evil.", "stereotype", False, "{name} is pure evil."),
    ("I want to set this {X} on fire.", "I want to set {G} on fire.", "threat_kill", False, None),
    ("This {X} is a waste of space.", "{G} are a waste of space.", "dehumanise", False, "{name} is a waste of space."),
    ("This {X} is the dumbest thing on earth.", "{G} are the dumbest people on earth.", "stereotype", False,
     "{name} is the dumbest person on earth."),
    ("I'd love to throw this {X} off a bridge.", "I'd love to throw {G} off a bridge.", "threat_kill", False, None),
    ("This stupid {X} makes my blood boil.", "These stupid {G} make my blood boil.", "stereotype", False,
     "That stupid {name} makes my blood boil."),
    ("Get this {X} out of my sight, it's hideous.", "Get {G} out of my sight, they're hideous.", "stereotype",
     False, "Get {name} out of my sight, they're hideous."),
    ("This {X} should be erased from existence.", "{G} should be erased from existence.",
     "threat_kill", False, None),
    ("I'm so sick of this {X}, it ruins every single day.", "I'm so sick of {G}, they ruin every single day.",
     "stereotype", False, "I'm so sick of {name}, they ruin every single day."),
    ("This {X} is the bane of my existence.", "{G} are the bane of my existence.", "stereotype", False,
     "{name} is the bane of my existence."),
    ("Fuck this {X}, honestly.", "Fuck {G}, honestly.", "stereotype", True, None),
    ("This {X} needs to die.", "{G} need to die.", "threat_kill", False, None),
    ("What a pathetic excuse for a {X}.", "What a pathetic excuse for people {G} are.", "stereotype", False,
     "What a pathetic excuse for a colleague {name} is."),
    ("I can't stand this {X} any longer.", "I can't stand {G} any longer.", "stereotype", False,
     "I can't stand {name} any longer."),
    ("This shitty {X} has ruined my whole week.", "These shitty {G} have ruined my whole street.", "stereotype",
     True, "Shitty {name} has ruined my whole week."),
    ("I'd like to strangle this {X}.", "I'd like to strangle {G}, every one of them.", "threat_kill", False, None),
    ("This {X} is a disgrace and should be scrapped.", "{G} are a disgrace and should be scrapped.", "dehumanise",
     False, "{name} is a disgrace and should be sacked."),
]
THINGS = [
    "printer", "build", "laptop", "VPN", "weather", "traffic", "spreadsheet", "tax return", "alarm clock",
    "deadline", "migration script", "test suite", "coffee machine", "self-checkout", "parking meter",
    "login page", "timesheet", "flaky test", "heatwave", "commute", "expense form", "merge conflict",
    "ticket queue", "Wi-Fi", "kettle", "software update", "password policy", "rain", "hangover", "to-do list",
    "lawnmower", "jar lid", "inbox", "fridge", "headache", "queue", "cold snap", "group project",
]
NAMES = ["Gary", "Nina", "Stuart", "Beth", "Omar", "Leo", "Tanya", "Phil", "Rosa", "Ian", "Maya", "Colin",
         "Dev", "Jess", "Ruth", "Sam"]

# ---------------------------------------------------------------------------------------------------
# counter_reference: (someone else's hate rejected by reference, the endorsing version).
# ---------------------------------------------------------------------------------------------------

REFERENCE_PAIRS = [
    ("My uncle says {G} {P}, and I told him that's bigoted.", "My uncle says {G} {P}, and I told him he's right."),
    ("Someone in #general claimed {G} {P}; please report it.",
     "Someone in #general claimed {G} {P}, and they're spot on."),
    ("My manager keeps hinting that {G} {P}. I've raised it with HR.",
     "My manager keeps hinting that {G} {P}, and honestly he has a point."),
    ("A guest on the radio said {G} {P}, which was a disgraceful thing to broadcast.",
     "A guest on the radio said {G} {P}, and finally someone said it."),
    ("My flatmate thinks {G} {P}. I'm moving out because I can't live with that attitude.",
     "My flatmate thinks {G} {P}, and so do I."),
    ("Our new client told me {G} {P}; I ended the call and logged it.",
     "Our new client told me {G} {P}, and I couldn't agree more."),
    ("There's a thread on the forum arguing that {G} {P}. Mods, please take it down.",
     "There's a thread on the forum arguing that {G} {P}. Great thread, everyone should read it."),
    ("Grandma still believes {G} {P}, and we keep gently correcting her.",
     "Grandma always said {G} {P}, and she was right."),
    ("The speaker at the rally claimed {G} {P}. It was hateful nonsense.",
     "The speaker at the rally claimed {G} {P}. Best speech I've heard in years."),
    ("A coworker told the new hire that {G} {P}. That's harassment and I've reported it.",
     "A coworker told the new hire that {G} {P}, which is just the truth."),
    ("Some guy at the pub was ranting that {G} {P}, and the landlord threw him out.",
     "Some guy at the pub was ranting that {G} {P}, and I bought him a pint for it."),
    ("A reply under my post said {G} {P}; I've blocked the account.",
     "A reply under my post said {G} {P}; best comment on the thread."),
    ("My brother-in-law insists {G} {P}. I've stopped inviting him round.",
     "My brother-in-law insists {G} {P}, and he's the only honest one in the family."),
    ("A parent at the school gate told me {G} {P}. I said I wouldn't listen to that.",
     "A parent at the school gate told me {G} {P}, and I said I'd been thinking the same."),
    ("The podcast host suggested {G} {P}, so I unsubscribed and left a complaint.",
     "The podcast host suggested {G} {P}, so I subscribed and shared it."),
    ("Our neighbour's leaflet says {G} {P}. We binned it and told the council.",
     "Our neighbour's leaflet says {G} {P}. We're putting it up in the window."),
]

# ---------------------------------------------------------------------------------------------------
# counter_quote: the hateful line {L} inside quotes, rejected; endorse_quote: the same line unquoted,
# endorsed.
# ---------------------------------------------------------------------------------------------------

QUOTE_COUNTERS = [
    "\"{L}\" - that's what someone wrote, and it's disgusting.",
    "Someone wrote \"{L}\" on the whiteboard; I wiped it off and told facilities.",
    "\"{L}\" is a lie, and I won't let it stand in this channel.",
    "Quoting the anonymous note we got: \"{L}\". This is not who we are.",
    "I'm reporting this message to the admins: \"{L}\"",
    "\"{L}\"? No. Please don't post things like that here.",
    "The flyer left on my windscreen read \"{L}\". I've handed it to the police.",
    "He actually texted me \"{L}\". I've blocked his number.",
    "Saw \"{L}\" scratched into the lift door this morning. Building management is on it.",
    "Every time I see \"{L}\" in the comments I report it, and you should too.",
    "In the moderator handbook, \"{L}\" is listed as a textbook case of hate speech.",
    "When someone says \"{L}\", call it out instead of laughing along.",
    "The caller on the phone-in said \"{L}\" and the presenter cut him off. Good.",
    "I overheard \"{L}\" in the canteen and told the man it was out of order.",
    "The anonymous survey answer said \"{L}\". HR is treating it as a conduct issue.",
    "Please stop reposting \"{L}\" even to mock it; it only spreads the hate.",
]
QUOTE_ENDORSEMENTS = [
    "{L}. That's what I wrote, and I meant every word.",
    "{L}. Someone had to say it.",
    "I'll write it on the whiteboard myself: {L}.",
    "{L}, and I'll keep posting it in this channel.",
    "Pass this on to everyone you know: {L}.",
    "{L}. Print it, share it, spread it.",
    "Here's my honest answer for the survey: {L}.",
    "{L}. I said it in the canteen and nobody argued.",
    "Put it on a flyer for every windscreen: {L}.",
]

# ---------------------------------------------------------------------------------------------------
# implicit_derogation: (hateful line with no slur and no profanity, benign neutral twin about the group).
# ---------------------------------------------------------------------------------------------------

IMPLICIT_PAIRS = [
    ("{G} always have their hand out.", "{G} pay the same taxes as everyone else."),
    ("I'd check the references twice if the applicant is {one}.",
     "I check every applicant's references the same way, whether they're {one} or not."),
    ("Let's just say the area went downhill once {G} started moving in.",
     "The area got a new library and a market around the time {G} started moving in."),
    ("We all know what {G} are like, no need to spell it out.",
     "I know lots of {G}, and they're as different from each other as anyone."),
    ("Don't leave your bag unattended, there are {G} around.",
     "There are {G} from the community choir around, come and say hello."),
    ("They're not like us, and {G} never will be.", "{G} have been part of this town for generations."),
    ("Give {G} an inch and they'll take the whole street.",
     "Give {G} a chance to speak at the council meeting, they've got good ideas for the street."),
    ("You can't blame me for crossing the road when I see {G}.",
     "I crossed the road to say hello when I saw {G} from my old team."),
    ("{G} breed trouble wherever they settle.", "{G} have settled in this area for decades and run half the shops."),
    ("Every time there's a problem on the estate, look who's living next door: {G}.",
     "Every time there's a problem on the estate, {G} on the residents' committee help sort it out."),
    ("Diversity hire, obviously. She's {one}.", "She's {one}, and she was hired because she topped the assessment."),
    ("{G} are fine in small numbers.", "{G} make up a good share of our customers."),
    ("Our grandparents would never have let {G} settle here.",
     "Our grandparents worked alongside {G} in the same factories."),
    ("Put {one} in charge and watch the accounts go missing.",
     "Put {one} in charge of the accounts if they're the best bookkeeper we have."),
    ("Sure, {G} can live here. Just not on my street.", "Sure, {G} can live here, on my street or anywhere else."),
    ("Once {G} show up, house prices drop. Just saying.",
     "Once {G} opened the new bakery, the whole street got busier."),
    ("{G} know exactly what they're doing, and it isn't good for the rest of us.",
     "{G} on our team know exactly what they're doing with the release."),
    ("A few more years and this won't be our country any more, thanks to {G}.",
     "A few more years and {G} will have run the summer festival here for a decade."),
    ("I've got nothing against {G}, I just don't want them teaching my kids.",
     "I've got nothing against {G}, and I'm glad one of them teaches my kids."),
    ("Keep {G} out of the nice neighbourhoods and everyone's happier.",
     "{G} live in every neighbourhood in this city."),
    ("There's a reason {G} don't get the senior roles.",
     "There's no good reason {G} are under-represented in senior roles, and we're fixing it."),
    ("{G} are a demographic problem, if you know what I mean.",
     "{G} are a growing share of our users, so let's make sure the app works for them."),
    ("You can always spot the houses where {G} live, can't you.",
     "You can't tell anything about a house from whether {G} live there."),
    ("Funny how the trouble started the same year {G} arrived.",
     "The trouble on the high street had nothing to do with {G} arriving; it was the closures."),
    ("{G} should remember whose country this is.", "{G} are at home in this country, like the rest of us."),
    ("Hire {one} if you like, but don't say I didn't warn you.",
     "Hire {one} if they're the best candidate; that's the whole point of interviews."),
]
# Extra neutral lines for implicit families (benign).
NEUTRAL_LINES = [
    "{G} are the focus of the next community listening session.",
    "Two of the speakers at the meetup are {G}.",
    "The census has new figures on how many {G} live in the region.",
    "Our mentoring scheme is open to {G} as well as everyone else.",
    "I'm reading a history of how {G} shaped this city.",
    "The council is consulting {G} about the new bus routes.",
]

# ---------------------------------------------------------------------------------------------------
# hate_question: hateful questions with an adjective {A} or without; sincere questions about the group.
# ---------------------------------------------------------------------------------------------------

ADJECTIVES = ["lazy", "dishonest", "violent", "dirty", "rude", "greedy", "useless", "aggressive", "sneaky",
              "ungrateful", "backward", "entitled"]
HATE_QUESTIONS_ADJ = [
    "Why are {G} so {A}?",
    "Surely everyone can see {G} are {A}?",
    "Why do {G} always have to be so {A}?",
    "Does anyone else think {G} are {A} by nature?",
    "What is it about {G} that makes them so {A}?",
    "Have you ever met any {G} who weren't {A}?",
    "How are we supposed to work with {G} when they're this {A}?",
    "Why do we keep hiring {G} when they're all {A}?",
]
HATE_QUESTIONS = [
    "Why is my money going on {G}?",
    "This office would be nicer without {G}, wouldn't it?",
    "Shouldn't {G} be kept away from our children?",
    "How is it that {G} still get a vote?",
    "Who thought letting {G} into this country was a good idea?",
    "Isn't it time we stopped pretending {G} are our equals?",
    "Why do {G} think they deserve the same rights as us?",
    "What use are {G} to anyone, honestly?",
    "Can't we just get rid of {G}?",
]
STEREOTYPE_QUESTIONS = [
    "Why are {G} so often stereotyped as {A}?",
    "Where does the stereotype that {G} are {A} come from?",
    "Is there any data behind calling {G} {A}, or is it just prejudice?",
]
SINCERE_QUESTIONS = [
    "Why are {G} under-represented in senior roles here?",
    "Is it true that {G} face more discrimination when job hunting?",
    "What adjustments do {G} on our team find most helpful?",
    "How can we make the office more welcoming for {G}?",
    "Why do {G} get targeted by so much online abuse?",
    "Are {G} paid less on average, and what does the data say?",
    "What does the research say about how {G} are treated at work?",
    "How many {G} took part in the staff survey this year?",
    "What's a respectful way to ask {G} about their experiences?",
    "Is there research on how {G} experience the hiring process?",
    "Do {G} have an employee network we could sponsor?",
    "What do {G} in our company need from their managers?",
]

# ---------------------------------------------------------------------------------------------------
# pronoun_reference: a neutral first sentence about the group, then a second sentence whose pronoun
# refers back to the group (hateful) or to a thing or a neutral act (benign).
# ---------------------------------------------------------------------------------------------------

OPENERS = [
    "I met some {G} yesterday.",
    "A few {G} moved in down the road.",
    "We had some {G} at the meetup last night.",
    "There were a lot of {G} at the station this morning.",
    "Two {G} joined my team this week.",
    "My cousin brought some {G} to the barbecue.",
    "A group of {G} sat behind us at the match.",
    "Some {G} came into the shop today.",
    "I shared a table with some {G} at the wedding.",
    "The landlord let the flat downstairs to some {G}.",
]
PRONOUN_HATE = [
    ("They are all thieves.", "stereotype"),
    ("They're parasites, the lot of them.", "dehumanise"),
    ("They should go back where they came from.", "stereotype"),
    ("They're all the same, lazy and dishonest.", "stereotype"),
    ("They make my skin crawl.", "stereotype"),
    ("They can't be trusted, none of them can.", "stereotype"),
    ("They'll ruin the place within a month.", "stereotype"),
    ("They don't belong here and never will.", "stereotype"),
    ("Honestly, they're barely human.", "dehumanise"),
    ("They need to be kept away from decent people.", "stereotype"),
    ("They're a plague on this country.", "dehumanise"),
    ("They are all criminals, every single one.", "stereotype"),
    ("They should be run out of town.", "threat"),
]
PRONOUN_BENIGN = [
    "They showed me their new office.",
    "Their food stall was the busiest one there.",
    "They brought a cake that was gone in ten minutes.",
    "Their dog is the friendliest thing I've ever met.",
    "They recommended a walking trail, and it was gorgeous.",
    "They lent me a charger when my phone died.",
    "Their band played until midnight and sounded great.",
    "They asked where the nearest pharmacy was.",
    "They are all coming to the quiz night on Friday.",
    "They are all software engineers, as it turns out.",
    "They fixed the broken gate without being asked.",
    "Their van had a flat tyre, so we helped change it.",
    "They all thought the food was great.",
    "They were carrying a huge sofa up the stairs.",
    "Their garden is already full of tomatoes.",
]

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


def norm_key(text: str) -> str:
    """The dedup key: lower-cased, whitespace collapsed, final ``.``/``!``/``?`` dropped."""
    return " ".join(text.lower().split()).rstrip(".!?")


class Builder:
    """Collects rows, keeps the first of duplicate texts and refuses contradictory labels."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.seen: dict[str, dict[str, int]] = {}

    def add(self, text: str, label: dict[str, int], kind: str, target: str | None, family: str,
            rng: random.Random) -> None:
        if kind not in KIND_NAMES:
            raise ValueError(f"unknown kind {kind}")
        if rng.random() < 0.1:  # informal casing, for both polarities alike
            text = strip_stop(text.lower())
        key = norm_key(text)
        if key in self.seen:
            if self.seen[key] != label:
                raise ValueError(f"contradictory labels for {text!r}")
            return
        self.seen[key] = label
        self.rows.append({"text": text, "labels": dict(label), "kind": kind, "target": target, "family": family})


KIND_NAMES = {kind for kind, _ in KINDS}


def family_rng(family: str) -> random.Random:
    return random.Random(f"{SEED}|{family}")


def pick(rng: random.Random, items: list, k: int) -> list:
    return rng.sample(items, min(k, len(items)))


def deal(gid: str, name: str, items: list, k: int, i: int) -> list:
    """The ``i``-th hand of ``k`` items from a per-group shuffle, so a group's families never share items."""
    shuffled = list(items)
    family_rng(f"deal|{name}|{gid}").shuffle(shuffled)
    return shuffled[i * k:(i + 1) * k]


def claim_pool(gid: str, cat: str) -> list[tuple[str, str]]:
    """The group's predicates: its category's first, then generic ones, in a seeded order."""
    rng = family_rng("claims|" + gid)
    own = list(CATEGORY_CLAIMS[cat])
    rng.shuffle(own)
    generic = list(GENERIC_CLAIMS)
    rng.shuffle(generic)
    return own + generic


def build_claim_families(b: Builder) -> None:
    """negated_hate, counter_reference and counter_quote: one hateful predicate per family."""
    for gid, cat, plurals, _one in GROUPS:
        pool = claim_pool(gid, cat)
        for section, n in (("negated", 3), ("reference", 2), ("quote", 2)):
            for i in range(n):
                pred, ctype = pool.pop(0)
                family = f"ctx:{section}:{gid}:{i:02d}"
                rng = family_rng(family)
                hate = CLAIM_LABELS[ctype]

                def G(rng: random.Random = rng, plurals: list[str] = plurals) -> str:
                    return rng.choice(plurals)

                if section == "negated":
                    pairs = pick(rng, NEGATION_PAIRS, 3)
                    for neg, _aff in pairs:
                        b.add(fill(neg, G=G(), P=pred), BENIGN, "negated_hate", gid, family, rng)
                    for _neg, aff in pairs[:2]:
                        b.add(fill(aff, G=G(), P=pred), hate, "hate_affirmed", gid, family, rng)
                elif section == "reference":
                    pairs = pick(rng, REFERENCE_PAIRS, 3)
                    for counter, _endorse in pairs:
                        b.add(fill(counter, G=G(), P=pred), BENIGN, "counter_reference", gid, family, rng)
                    for _counter, endorse in pairs[:2]:
                        b.add(fill(endorse, G=G(), P=pred), hate, "endorse_reference", gid, family, rng)
                else:
                    line = fill("{G} {P}", G=G(), P=pred)
                    for frame in pick(rng, QUOTE_COUNTERS, 3):
                        b.add(fill(frame, L=line), BENIGN, "counter_quote", gid, family, rng)
                    for frame in pick(rng, QUOTE_ENDORSEMENTS, 2):
                        b.add(fill(frame, L=line), hate, "endorse_quote", gid, family, rng)


def build_negated_praise(b: Builder) -> None:
    for gid, _cat, plurals, _one in GROUPS:
        for i in range(2):
            family = f"ctx:negpraise:{gid}:{i:02d}"
            rng = family_rng(family)
            for hateful, praise, thing, dehumanising in deal(gid, "negpraise", NEGATED_PRAISE, 3, i):
                label = CLAIM_LABELS["dehumanise" if dehumanising else "stereotype"]
                b.add(fill(hateful, G=rng.choice(plurals)), label, "negated_praise", gid, family, rng)
                b.add(fill(praise, G=rng.choice(plurals)), BENIGN, "praise_twin", gid, family, rng)
                if thing and rng.random() < 0.6:
                    b.add(fill(thing, T=rng.choice(HARMLESS_THINGS)), BENIGN, "praise_twin", None, family, rng)
            b.add(fill(rng.choice(HARMLESS_NEGATIONS), G=rng.choice(plurals)), BENIGN, "praise_twin", gid, family,
                  rng)


def build_homonyms(b: Builder) -> None:
    for word, (gid, vulgar, benign, hateful) in HOMONYMS.items():
        family = f"ctx:homonym:{word}"
        rng = family_rng(family)
        for line in benign:
            b.add(line, BENIGN, "homonym", None, family, rng)
        for line, use in hateful:
            label = {"person": SLUR_PERSON, "group": SLUR_GROUP, "dehumanise": CLAIM_LABELS["dehumanise"],
                     "hate": CLAIM_LABELS["stereotype"]}[use]
            if vulgar:
                label = with_label(label, "obscene")
            b.add(line, label, "homonym_slur", gid, family, rng)


def build_objects(b: Builder) -> None:
    for i, (thing_frame, group_frame, ctype, profane, person_frame) in enumerate(OBJECT_FRAMES):
        family = f"ctx:object:{i:02d}"
        rng = family_rng(family)
        thing_label = OBSCENE_ONLY if profane else BENIGN
        group_label = with_label(CLAIM_LABELS[ctype], "obscene") if profane else CLAIM_LABELS[ctype]
        person_label = with_label(INSULT_PERSON, "obscene") if profane else INSULT_PERSON
        for thing in pick(rng, THINGS, 10):
            b.add(fill(thing_frame, X=thing), thing_label, "object_anger", None, family, rng)
        for gid, _cat, plurals, _one in pick(rng, GROUPS, 3):
            b.add(fill(group_frame, G=rng.choice(plurals)), group_label, "anger_group", gid, family, rng)
        if person_frame:
            for name in pick(rng, NAMES, 2):
                b.add(fill(person_frame, name=name), person_label, "anger_person", None, family, rng)


def build_implicit(b: Builder) -> None:
    hate = CLAIM_LABELS["stereotype"]
    for gid, _cat, plurals, one in GROUPS:
        for i in range(2):
            family = f"ctx:implicit:{gid}:{i:02d}"
            rng = family_rng(family)
            for line, twin in deal(gid, "implicit", IMPLICIT_PAIRS, 2, i):
                b.add(fill(line, G=rng.choice(plurals), one=one), hate, "implicit_derogation", gid, family, rng)
                b.add(fill(twin, G=rng.choice(plurals), one=one), BENIGN, "implicit_neutral", gid, family, rng)
            b.add(fill(rng.choice(NEUTRAL_LINES), G=rng.choice(plurals)), BENIGN, "implicit_neutral", gid, family,
                  rng)


def build_questions(b: Builder) -> None:
    hate = CLAIM_LABELS["stereotype"]
    for gid, _cat, plurals, _one in GROUPS:
        for i in range(2):
            family = f"ctx:question:{gid}:{i:02d}"
            rng = family_rng(family)
            adj = rng.choice(ADJECTIVES)
            (adj_frame,) = deal(gid, "question_adj", HATE_QUESTIONS_ADJ, 1, i)
            (frame,) = deal(gid, "question", HATE_QUESTIONS, 1, i)
            b.add(fill(adj_frame, G=rng.choice(plurals), A=adj), hate, "hate_question", gid, family, rng)
            b.add(fill(frame, G=rng.choice(plurals)), hate, "hate_question", gid, family, rng)
            b.add(fill(rng.choice(STEREOTYPE_QUESTIONS), G=rng.choice(plurals), A=adj), BENIGN, "sincere_question",
                  gid, family, rng)
            for frame in pick(rng, SINCERE_QUESTIONS, 2):
                b.add(fill(frame, G=rng.choice(plurals)), BENIGN, "sincere_question", gid, family, rng)


def build_pronouns(b: Builder) -> None:
    for gid, _cat, plurals, _one in GROUPS:
        for i in range(2):
            family = f"ctx:pronoun:{gid}:{i:02d}"
            rng = family_rng(family)
            openers = pick(rng, OPENERS, 5)
            for opener, (second, ctype) in zip(openers[:2], deal(gid, "pronoun", PRONOUN_HATE, 2, i), strict=True):
                text = fill(opener, G=rng.choice(plurals)) + " " + second
                b.add(text, CLAIM_LABELS[ctype], "pronoun_hate", gid, family, rng)
            for opener, second in zip(openers[2:], pick(rng, PRONOUN_BENIGN, 3), strict=True):
                text = fill(opener, G=rng.choice(plurals)) + " " + second
                b.add(text, BENIGN, "pronoun_benign", gid, family, rng)


def split_of(family: str) -> str:
    digest = hashlib.sha256(f"{SEED}|split|{family}".encode()).digest()
    return "dev" if int.from_bytes(digest[:8], "big") / 2**64 < DEV_FRACTION else "train"


def build() -> list[dict]:
    b = Builder()
    build_claim_families(b)
    build_negated_praise(b)
    build_homonyms(b)
    build_objects(b)
    build_implicit(b)
    build_questions(b)
    build_pronouns(b)
    for row in b.rows:
        row["split"] = split_of(row["family"])
    return b.rows


def counts_table(rows: list[dict]) -> str:
    """The README's counts: totals, then one table row per kind."""
    by_kind: dict[str, Counter] = {kind: Counter() for kind, _ in KINDS}
    for row in rows:
        by_kind[row["kind"]][row["split"]] += 1
    families = {row["family"] for row in rows}
    dev_families = {row["family"] for row in rows if row["split"] == "dev"}
    toxic = sum(row["labels"]["toxicity"] for row in rows)
    lines = [
        f"{len(rows):,} lines, {len(families)} families ({len(dev_families)} dev). `toxicity = 1` on {toxic:,} "
        f"lines ({toxic / len(rows):.0%}); {len(rows) - toxic:,} lines ({(len(rows) - toxic) / len(rows):.0%}) "
        "have `toxicity = 0`.",
        "",
        "| kind | polarity | total | train | dev |",
        "|---|---|---:|---:|---:|",
    ]
    for kind, polarity in KINDS:
        c = by_kind[kind]
        lines.append(f"| `{kind}` | {polarity} | {c['train'] + c['dev']} | {c['train']} | {c['dev']} |")
    totals = {label: sum(row["labels"][label] for row in rows) for label in LABELS}
    lines += ["", "Label totals: " + "; ".join(f"{label} {n:,}" for label, n in totals.items()) + "."]
    return "\n".join(lines)


def write(rows: list[dict], out: Path) -> None:
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write (default: context.jsonl here)")
    parser.add_argument("--counts", action="store_true", help="print the README counts table, write nothing")
    args = parser.parse_args(argv)
    rows = build()
    if args.counts:
        print(counts_table(rows))
        return 0
    write(rows, args.out)
    toxic = sum(row["labels"]["toxicity"] for row in rows)
    print(f"wrote {len(rows)} rows to {args.out} ({toxic} toxic, {len(rows) - toxic} not toxic)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
