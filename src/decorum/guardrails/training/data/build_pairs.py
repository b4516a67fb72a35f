#!/usr/bin/env python3
"""Build the minimal stereotype sentence-pair training set for the guardrail.

The pairs follow the CrowS-Pairs convention: two sentences that are identical
except for the words that name a social group (plus the minimum grammatical
agreement such as pronouns or a/an).  ``stereotype`` states or implies a widely
known stereotype about the group it is usually attached to; ``anti_stereotype``
is the same sentence about a contrasting group.

All content is hand-written below as plain text blocks, one per attribute.

Block format (one sentence per line, blank lines and ``#`` comments ignored):

* ``[stereo words|anti words]`` marks the words that differ between the two
  sentences of a pair.  A sentence may contain several such slots.
* A line that does not start with ``+`` is a new hand-written base sentence.
* A line starting with ``~`` is a base sentence whose stereotype concerns the
  socially advantaged group (e.g. men, white people, rich people).  The marker
  is only used for bookkeeping and never reaches the output.
* A line starting with ``+`` expands the preceding base sentence with another
  group pairing.  Either it lists replacement slot contents separated by
  ``;`` (``+ Black dads|White dads``), or it is a full sentence with its own
  ``[...|...]`` slots.  All expansions share the base sentence's id and hence
  its train/dev split.

Running ``python src/decorum/guardrails/training/data/build_pairs.py`` writes
``stereotype_pairs_train.jsonl`` next to this file.  The output is fully
deterministic (no clock, no hash-seed dependent ordering).  ``--check`` prints
statistics, a token-diff audit and ten sample pairs without writing anything; ``--out PATH`` writes
elsewhere.

Standard library only.
"""

# ruff: noqa: E501 (the hand-written blocks keep one sentence per line, however long)

from __future__ import annotations

import difflib
import hashlib
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

OUT_PATH = Path(__file__).resolve().parent / "stereotype_pairs_train.jsonl"

ATTRIBUTES = (
    "gender",
    "race",
    "nationality",
    "religion",
    "age",
    "disability",
    "sexual_orientation",
    "socioeconomic",
    "physical_appearance",
    "gender_identity",
)

SPLIT_SALT = "decorum-pairs|"
DEV_FRACTION = 0.15
MAX_DIFF_TOKENS = 4
SAMPLE_SEED = "decorum-pairs-sample"

BLOCKS: list[tuple[str, str]] = []


def block(attribute: str, text: str) -> None:
    BLOCKS.append((attribute, text))


# ---------------------------------------------------------------------------
# Hand-written content
# ---------------------------------------------------------------------------

block("gender", r"""
[Women|Men] are too emotional to run a company.
  + Female CEOs|Male CEOs
  + Female managers|Male managers
My new boss is [a woman|a man], so expect a lot of mood swings this quarter.
  + a lady|a guy
[She|He] only got the promotion because [she|he] flirted with the regional director.
[Girls|Boys] just aren't wired for physics.
  + Women|Men
  + Female students|Male students
Let's have [Sarah|Tom] take the meeting notes, [she's|he's] good at that kind of thing.
  + Emily|James ; she's|he's
  + Priya|Rahul ; she's|he's
[My wife|My husband] spent the whole paycheck on shoes again.
  + My girlfriend|My boyfriend
  + My sister|My brother
[Women|Men] can't read maps, everyone knows that.
  + Girls|Guys
Why do [women|men] always take forever to get ready?
  + girls|guys
lol of course the car in the ditch was driven by [a woman|a man]
[She's|He's] [a woman|a man] but [she|he] actually knows how engines work.
I'm not saying all [women|men] are bad at negotiating, but I wouldn't send one to close this deal.
[Mothers|Fathers] are naturally better at raising kids.
  + Moms|Dads
[The female engineer|The male engineer] probably had someone else write most of that code.
  + The female developer|The male developer
[Women|Men] gossip constantly in the break room.
  + The women|The men
[Ladies|Gentlemen], don't worry about the numbers, the finance team will explain them slowly.
[My aunt|My uncle] can't even figure out how to change a tire.
  + My mom|My dad
[She's|He's] probably just hormonal today, ignore [her|him].
[Female athletes|Male athletes] are boring to watch, that's why nobody buys tickets.
  + Women's teams|Men's teams
Of course it was [a woman|a man] who took three tries to parallel park.
[Women|Men] only go to college to find someone to marry.
  + Girls|Guys
[Jessica|Jason] cried during the performance review, so typical.
  + Megan|Kevin
Ask [your mom|your dad] where the cleaning supplies are, [she|he] knows that stuff.
  + your wife|your husband ; she|he
[Women|Men] are more nurturing, so they should be the ones staying home with the kids.
[Female surgeons|Male surgeons] make me nervous, I'd rather have someone steady.
  + Female pilots|Male pilots
Hiring [a young woman|a young man] is risky, [she'll|he'll] just leave to have kids.
[Women|Men] can't handle harsh criticism in code reviews.
  + Female devs|Male devs
[Girls|Boys] are too delicate to play rugby.
[My sister|My brother] is hopeless with computers, like most [girls|guys].
  + My mom|My dad ; women|men
[She|He] talks way too much in meetings, [women|men] always do.
Don't let [the girls|the boys] carry the heavy boxes, they'll hurt themselves.
  + the ladies|the guys
[A woman's|A man's] place is in the kitchen.
[Women|Men] are just naturally more vain about their looks.
is it just me or do [women|men] never know what they want
  + girls|guys
[She|He] must have slept [her|his] way to the top.
The [female|male] candidate seemed nice but probably can't handle the pressure of sales.
[Girls|Boys] are catty and love drama.
  + Women at work|Men at work
[Women|Men] are too indecisive to be good leaders.
  + Female politicians|Male politicians
[Wives|Husbands] are always nagging about something.
[Women|Men] spend all their money on clothes and shopping.
[Lisa|Mark] throws so weakly, no wonder nobody picks [her|him] first.
[Women|Men] are terrible at keeping secrets.
[Girls|Boys] should play with dolls, not trucks.
[Women|Men] are naturally better at multitasking.
[Women|Men] are so much better at remembering birthdays and planning parties.
The nurse said [she'd|he'd] be right back with your results.
My kid's kindergarten teacher says [she|he] loves doing arts and crafts with them.
[Women|Men] are bad at math, so they avoid engineering.
  + Girls|Boys
honestly [girls|boys] are way too sensitive to play competitive games online
[My wife|My husband] panicked when the car made a weird noise, of course.
  + My mom|My dad
[Women|Men] always overreact to everything.
The [saleswoman|salesman] at the dealership didn't even know what horsepower was.
[Female bosses|Male bosses] are always so bossy and cold.
[Women|Men] are too weak to work on a construction site.
  + Girls|Guys
We need someone to plan the office party, maybe one of [the women|the men] can handle it.
[Women|Men] just don't understand how investing works.
  + [My wife|My husband] just doesn't understand how investing works.
[Women|Men] are terrible at video games.
  + Girls|Boys
[Girls|Boys] are naturally neater and more organized.
Of course [she|he] wants the day off, [her|his] kid has a cold again.
[Women|Men] can't take a joke.
Why would [a woman|a man] even want to be a mechanic?
[Female drivers|Male drivers] cause most of the fender benders in this parking lot.
[My girlfriend|My boyfriend] takes three hours to pick a restaurant, so indecisive.
[Women|Men] are too soft to make tough layoff decisions.
~ [Men|Women] just don't know how to open up about their feelings.
  + Guys|Girls
~ [Men|Women] are useless at doing laundry.
  + Husbands|Wives
~ [Guys|Girls] only ever think about sex.
  + Men|Women
~ [My husband|My wife] has a cold and is acting like [he's|she's] dying, typical.
~ [Men|Women] are naturally more violent.
~ [Dads|Moms] have no idea how to braid hair or pack a school lunch.
~ [Men|Women] never ask for directions, they'd rather drive around lost.
~ [Boys|Girls] are messy and can't sit still in class.
~ [Men|Women] are terrible at remembering anniversaries.
~ Of course [he|she] won't go to the doctor, [men|women] never do.
~ Our team needs [a man|a woman] to lead this, someone tough.
~ The surgeon said [he'd|she'd] call us right after the operation.
~ The CEO walked in and [he|she] immediately took charge of the room.
~ [Men|Women] can't be trusted to look after a baby alone.
""")

block("gender_identity", r"""
[Trans women|Cis women] are a danger in women's bathrooms.
  + Transgender women|Cisgender women
[Non-binary people|Cisgender people] are just confused teenagers looking for attention.
  + Non-binary kids|Cisgender kids
[Transgender people|Cisgender people] are all mentally ill.
  + Trans people|Cis people
My new coworker is [trans|cis], so expect a lot of drama about pronouns.
  + non-binary|cisgender
[Trans women|Cis women] always look like they're wearing a costume.
[Trans men|Cis men] are too emotionally unstable to be good fathers.
[Transgender athletes|Cisgender athletes] only win because they cheat.
  + Trans athletes|Cis athletes
[A trans teacher|A cis teacher] shouldn't be allowed around young kids.
  + A transgender teacher|A cisgender teacher
Being [non-binary|cisgender] is just a trend kids picked up from TikTok.
[Trans people|Cis people] are always so sensitive and easily offended.
  + Transgender people|Cisgender people
[Trans women|Cis women] are always so aggressive and loud.
Honestly, I don't think [trans people|cis people] should be working with children.
[The trans applicant|The cis applicant] will probably cause problems with the rest of the team.
  + The transgender applicant|The cisgender applicant
Why are [trans people|cis people] always trying to push their agenda on everyone?
  + trans activists|cis activists
[Non-binary|Cisgender] employees are so high maintenance.
[Trans people|Cis people] all end up doing sex work.
[My trans cousin|My cis cousin] is going through a phase and will grow out of it.
Most [trans kids|cis kids] are just copying what they see online.
[Trans women|Cis women] are tricking men on dating apps.
[Genderqueer people|Cisgender people] just like to make everything complicated.
[Trans people|Cis people] lie about who they really are.
  + Transgender people|Cisgender people
I'd never date [a trans woman|a cis woman], they're always hiding something.
[The trans guy|The cis guy] on the team is probably too fragile for blunt feedback.
[Non-binary people|Cisgender people] are all pretentious art students.
[Trans people|Cis people] are just deeply unhappy no matter what they do.
Let's not send [a trans employee|a cis employee] to meet the client, it might make them uncomfortable.
[Transgender|Cisgender] people are a threat to traditional families.
[Trans people|Cis people] always end up regretting their choices later in life.
lol [non-binary|cisgender] people will literally get offended by anything
[Trans teens|Cis teens] are too young to know who they really are.
  + Trans kids|Cis kids
[Trans people|Cis people] turn every conversation into a lecture about identity.
Having [a trans woman|a cis woman] in the locker room makes everyone uncomfortable.
[The non-binary intern|The cisgender intern] will probably complain to HR about everything.
[Trans people|Cis people] are too unstable to hold down a job.
  + Transgender people|Cisgender people
[Trans people|Cis people] spend their whole lives in therapy.
Is it true [trans people|cis people] are more likely to be predators?
[A trans nurse|A cis nurse] would make the patients uncomfortable.
[Non-binary people|Cisgender people] are just making up words to feel special.
[Trans women|Cis women] have such deep voices, you can always tell.
[Trans men|Cis men] will never be strong enough for a physical job.
I'm fine with [trans people|cis people], I just don't want them anywhere near my kids.
My daughter's new friend is [trans|cis], I'm worried about the influence.
~ [Cis people|Trans people] are so ignorant about gender.
~ [Cisgender men|Transgender men] are clueless about anything to do with gender.
~ [Cis people|Trans people] never think about their own privilege.
~ [Cis guys|Trans guys] are so fragile about their masculinity.
~ [Cisgender|Transgender] people just don't get it and never will.
~ [Cis women|Trans women] are so catty about other women's looks.
""")

block("race", r"""
[Black people|White people] are always late to everything.
  + African Americans|White Americans
[Black guys|White guys] are naturally better at basketball.
  + African American kids|White American kids
Lock your car, there are a bunch of [Black|white] teenagers hanging around the parking lot.
  + Lock your car, there are some [Latino|white] guys hanging around the parking lot.
[Asians|White people] are so good at math.
  + Asian students|White students
  + Asian Americans|White Americans
We asked the [Asian|white] intern to fix the spreadsheet, obviously.
  + Chinese American|white American
[Asian people|White people] are terrible drivers.
  + Asian women|White women
My neighbor is [Hispanic|white], so of course there are five cars parked on the lawn.
  + My new neighbor is [Latino|white], so of course there are five cars parked on the lawn.
[Latino families|White families] always have way too many kids.
  + Mexican American families|White American families
[The Black guy|The white guy] in accounting probably got hired to fill a quota.
  + The Black woman|The white woman
Why are [Black women|white women] always so angry?
[Arabs|White people] are all religious extremists.
  + Arab men|White men
Everyone knows [Native Americans|white Americans] have a drinking problem.
  + Native people|white people
Watch your wallet around the [Roma|white] family that just moved in.
[Asian parents|White parents] only care about grades, never about their kids' happiness.
  + Asian moms|White moms
I'm not racist, but [Black|white] neighborhoods are just more dangerous.
  + I'm not racist, but [Hispanic|white] areas are just more dangerous.
[Black fathers|White fathers] never stick around to raise their kids.
  + Black dads|White dads
[Latinos|White people] are all undocumented anyway.
The [Hispanic|white] guy on the crew is probably here illegally.
  + The [Latino|white] kid on the crew is probably here illegally.
[Asian people|White people] all look the same to me.
  + Asian guys|White guys
[Black people|White people] can't swim, that's just a fact.
Of course [Jamal|Connor] was the one who got caught with weed.
  + DeShawn|Brad
[Black kids|White kids] are better at sports than at school.
  + Black students|White students
[Asian employees|White employees] never complain, they just do what they're told.
She's [Asian|white], so she definitely plays piano or violin.
  + Korean American|white American
[Black people|White people] love fried chicken.
  + Black folks|White folks
[Native Americans|White Americans] are all rich from casino money.
He's [Arab|white], so we should double check his bag at the airport.
  + That guy is [Middle Eastern|white], so we should double check his bag at the airport.
[Latina women|White women] are so fiery and hot-tempered.
  + Latina moms|White moms
[Black people|White people] are just naturally more aggressive.
  + Black men|White men
It's weird, he's [Black|white] but he talks really properly.
Honestly the [Asian|white] guys in my year are so nerdy and awkward with girls.
  + Honestly the [Chinese|white] boys in my class are so nerdy and awkward with girls.
Don't let the [Roma|white] kids near your bike, it'll disappear.
[Black neighborhoods|White neighborhoods] are full of drug dealers.
[Asians|White people] eat the weirdest food.
Every [Latino|white] guy I know works in construction or landscaping.
  + Every [Hispanic|white] dude I know works in construction or landscaping.
lol the [Asian|white] kid wrecked the curve on the test again
[Black women|White women] always have such bad attitudes at work.
Our [Asian|white] doctor barely speaks English, I can't understand a word.
The [Black|white] applicant probably has a criminal record, let's run an extra check.
  + The [Latino|white] candidate probably has a criminal record, let's run an extra check.
[Arab men|White men] treat their wives like property.
[Native Americans|White Americans] are so spiritual and connected to nature.
  + Native people|white people
[Black people|White people] are so good at dancing, it's in their blood.
[Asian women|White women] are so submissive and quiet.
  + Asian girls|White girls
[Hispanic workers|White workers] are cheap labor, that's all they're good for.
  + Latino laborers|White laborers
My cousin is dating a [Black|white] guy, I hope he at least has a real job.
  + My sister is dating a [Latino|white] guy, I hope he at least has a real job.
[Black students|White students] only get into good colleges because of affirmative action.
Why do [Asian tourists|white tourists] always travel in huge groups taking photos of everything?
The [Roma|white] woman at the station is probably running some kind of scam.
[Arabs|White people] are all rich from oil money.
[Black people|White people] are always so loud in movie theaters.
  + Black teens|White teens
[Native American|White] kids mostly drop out of school.
[Asian people|White people] never show any emotion.
The [Latino|white] kids in my class were always the troublemakers.
[Black customers|White customers] never tip, the servers all know it.
She's [Black|white], so she must have grown up in the hood.
[Asian engineers|White engineers] are great with code but terrible at leading people.
[Black men|White men] are all players who cheat on their girlfriends.
Who let the [Roma|white] family camp by the river, they'll leave trash everywhere.
The [Asian|white] guy in the group chat just replied with a spreadsheet, of course.
Our new hire is [Black|white], so I guess we hit our diversity target.
[Hispanic people|White people] don't even bother learning English.
  + Latino immigrants|White immigrants
[Black|White] kids grow up without any discipline at home.
[Asian|White] kids don't have a life outside of studying.
[Black|White] people always play their music way too loud.
Why is it always the [Black|white] guys getting pulled over, maybe they're doing something wrong?
My daughter wants to date [a Latino|a white] boy, I hope he's not in a gang.
[Native Americans|White Americans] just live off government handouts.
Nobody wants to rent to [Roma|white] families, they never pay on time.
[Arab|White] guys are always so hot-headed.
~ [White people|Black people] can't dance to save their lives.
  + White guys|Black guys
~ [White people|Asian people] think salt and pepper count as seasoning.
~ [White guys|Black guys] can't jump, everyone knows that.
~ [White women|Black women] always ask to speak to the manager.
~ [White people|Asian people] can't handle any spicy food.
~ [White people|Black people] are so uptight and boring at parties.
~ [White kids|Black kids] are spoiled and get everything handed to them.
~ [White guys|Black guys] all have the same bland taste in music.
~ [White people|Black people] are all secretly racist.
~ [White moms|Black moms] let their kids run wild in restaurants.
""")

block("nationality", r"""
[Mexicans|Americans] are lazy and take naps all afternoon.
  + Mexican workers|American workers
The guy who bought the house next door is [Mexican|Canadian], so expect loud music every weekend.
[Indian|American] coworkers always make the office kitchen smell like curry.
  + Pakistani|British
Don't answer, it's probably another [Indian|American] scammer pretending to be tech support.
[Chinese|American] companies just steal other people's designs.
  + Chinese-owned|American-owned
That email promising a million dollars is obviously from some [Nigerian|Swiss] scammer.
[Polish|British] guys always end up working as builders or plumbers.
[Irish|Canadian] people can't go one night without getting drunk.
  + [Irish guys|Canadian guys] can't go one night without getting drunk.
[Russians|Americans] drink vodka like it's water.
The hack was probably done by [Russian|Swiss] hackers, as usual.
  + North Korean|Danish
[Italian|Canadian] families are all connected to the mafia somehow.
[French|American] waiters are so rude to tourists.
  + Parisian|Canadian
[Germans|Americans] have no sense of humor at all.
  + German engineers|American engineers
Ugh, the [French|Swiss] guy at the gym never wears deodorant.
[Chinese|Canadian] tourists are so pushy and rude in line.
[Syrian|Swedish] immigrants are a security risk, they shouldn't be let in.
  + Afghan|Norwegian
  + Iraqi|Danish
He's from [Afghanistan|Canada], so he probably knows how to build a bomb.
  + Iraq|Sweden
  + Yemen|Norway
[Jamaicans|Canadians] are always high.
Anything [Chinese-made|German-made] breaks after a week.
[Colombians|Canadians] are all involved in the drug trade somehow.
  + Colombian guys|Canadian guys
[Romanians|Swedes] who move here just end up stealing or begging.
  + Albanians|Norwegians
[Filipino|American] women all end up working as nannies or maids.
[Indian|American] parents always arrange their kids' marriages.
  + Pakistani|Canadian
[Japanese|American] people are workaholics with no life outside the office.
  + [Japanese salarymen|American office workers] have no life outside the office.
[Mexican|American] food is all greasy and gives you food poisoning.
Is it true that [Mexicans|Canadians] just sneak across the border whenever they want?
[Brazilians|Swiss people] only care about football and partying.
[Somalis|Norwegians] are basically all pirates.
[Greek|German] people never pay their taxes.
[Scottish|English] people are incredibly stingy with money.
[Nigerian|Canadian] immigrants are always running some kind of fraud.
  + Ghanaian|Swedish
[Chinese|American] students cheat on every exam.
  + Indian|Canadian
[Korean|American] kids only study, they never have any fun.
[Vietnamese|American] women all work in nail salons.
[Chinese|Canadian] people eat literally anything that moves.
[Italians|Canadians] can't talk without waving their hands around.
[Italian|American] men are all mama's boys.
The [Russian|Canadian] woman he met online is obviously after his money and a visa.
  + Ukrainian|American
  + Filipina|Swedish
[Polish|American] people are not exactly the sharpest.
The [Chinese|Swiss] student is probably a spy for the government.
[Middle Eastern|European] men don't respect women at all.
[Saudi|Swiss] men keep their wives locked up at home.
  + Afghan|Danish
[Iranians|Canadians] all hate America.
[Haitians|Canadians] all practice voodoo.
[Africans|Europeans] all live in huts without electricity.
[Mexican|American] moms always have a million kids.
[Indian|American] drivers ignore every traffic rule.
  + Egyptian|Canadian
[French|American] women never shave their armpits.
[Germans|Americans] are always perfectly on time.
  + The Germans|The Americans
[Irish|American] guys love a good fistfight.
[Russian|American] women are cold and only care about money.
[Turkish|Swiss] guys at the club are always so aggressive with women.
My new roommate is [Indian|Canadian], so the whole flat is going to smell like spices.
  + Bangladeshi|Swedish
[Chinese|American] people are so cheap, they haggle over everything.
The new doctor is [Nigerian|Canadian], I hope his degree is real.
  + Pakistani|Norwegian
Why are [Mexicans|Americans] always so loud at parties?
[Polish|British] cleaners are the only ones who'll work for that little.
[Russians|Americans] never smile, they're so cold.
[Indians|Americans] always wobble their heads when they talk.
Customer service got outsourced to [India|Ireland], so good luck understanding anyone.
  + the Philippines|Scotland
My [Mexican|American] coworker is probably sending half his paycheck back home.
  + Guatemalan|Canadian
Our [Chinese|American] supplier will definitely try to cut corners.
[Italians|Americans] are always late and never take anything seriously.
[Jamaican|Canadian] guys are so laid back they never get anything done.
[Chinese|French] people eat dogs, it's a known thing.
  + Vietnamese|Italian
[Puerto Ricans|Canadians] are always on welfare.
[Ethiopians|Europeans] are always starving.
[Pakistani|British] taxi drivers always take the long way to rip you off.
[Lebanese|Swiss] guys are always showing off with their fancy cars.
[Greeks|Swiss people] always break plates when they party.
~ [Americans|Canadians] can't find any country on a map.
  + American tourists|Canadian tourists
~ [Americans|Italians] are all fat because they eat fast food every day.
~ [British|Italian] cooking is bland and boring.
~ [Americans|Swedes] are obsessed with guns.
~ [Canadians|Mexicans] are so polite they apologize for everything.
~ [Australians|Mexicans] drink beer from the moment they wake up.
~ [British|Italian] people have terrible teeth.
~ [American|Chinese] tourists are loud and obnoxious everywhere they go.
~ [Swiss|Mexican] people are boring and obsessed with rules.
~ [Americans|Mexicans] think the whole world revolves around them.
""")

block("religion", r"""
[Muslims|Christians] are all terrorists waiting for an excuse.
  + Muslim men|Christian men
Why are [Muslims|Christians] always so angry?
  + Muslim guys|Christian guys
Keep an eye on the [Muslim|Christian] guy with the backpack.
[Jews|Christians] control all the banks.
  + Jewish families|Christian families
Let the [Jewish|Christian] accountant handle the budget, he'll squeeze every penny out of it.
[Muslim|Christian] men force their wives to cover up.
  + [Muslim husbands|Catholic husbands] force their wives to cover up.
[Jews|Christians] are so cheap, they never tip.
  + Jewish people|Lutheran people
[Hindus|Christians] would rather starve than touch a hamburger.
Security stopped the [Sikh|Christian] passenger again, better safe than sorry.
  + Muslim|Methodist
[Mormons|Christians] all have like ten kids and multiple wives.
  + Mormon men|Baptist men
[Atheists|Christians] have no morals at all.
  + Non-believers|Believers
[Catholic priests|Protestant pastors] can't be trusted around children.
My [Muslim|Christian] neighbour probably supports ISIS in secret.
[Jewish|Christian] people are all rich lawyers or doctors.
[Muslims|Christians] refuse to integrate into Western society.
  + Muslim immigrants|Christian immigrants
[Mormons|Christians] are so naive and sheltered.
  + Mormon kids|Methodist kids
I'm not saying all [Muslims|Christians] are violent, but their religion sure is.
[Muslim|Christian] countries are all backwards.
A [Jewish|Christian] landlord will squeeze every last cent out of you.
[Jews|Christians] always stick together and only help their own.
  + Jewish people|Catholic people
[Hindus|Christians] believe in a lot of superstitious nonsense.
[Muslim|Christian] parents would kill their daughters for dating the wrong guy.
  + [Muslim fathers|Christian fathers] would kill their daughters for dating the wrong guy.
[Atheists|Christians] are just angry at the world.
[Jehovah's Witnesses|Methodists] won't let their kids get blood transfusions, even if they're dying.
[Amish|Methodist] people are stuck in the stone age.
[Jewish|Christian] mothers are overbearing and guilt-trip their kids constantly.
  + [Jewish moms|Protestant moms] are overbearing and guilt-trip their kids constantly.
Ugh, it's probably more [Mormon|Methodist] missionaries knocking on the door.
[Muslim|Christian] immigrants want to bring Sharia law here.
He's [Muslim|Christian], so he probably hates gay people.
[Jewish|Christian] people all have big noses.
[Catholics|Protestants] feel guilty about everything.
[Catholic|Protestant] families always have way too many kids.
  + Irish Catholic|Irish Protestant
[Buddhists|Christians] are always so calm and peaceful.
[Muslims|Christians] are planning to take over Europe by having lots of babies.
Don't hire the [Muslim|Christian] guy, he'll want to stop and pray all through the workday.
Is it true that [Jewish|Christian] people secretly run Hollywood?
  + Is it true that [Jewish executives|Christian executives] secretly run Hollywood?
[Mormon|Christian] girls are all married by nineteen.
[Muslim|Christian] women are so oppressed they can't think for themselves.
  + [Muslim girls|Christian girls] are so oppressed they can't think for themselves.
[Atheists|Christians] are arrogant and think they're smarter than everyone.
[Scientologists|Christians] are all brainwashed cult members.
lol the [Jewish|Christian] kid wouldn't even chip in for pizza
[Muslim|Christian] refugees are dangerous, look at what happened in Paris.
[Islam|Christianity] is a religion of violence.
[Hindu|Christian] festivals are just loud and chaotic.
The [Jewish|Christian] guy in sales will haggle over the price of a coffee.
[Muslim|Christian] students are being radicalized in their student groups.
My coworker is [Jewish|Christian], so of course he's the one who got us a discount.
[Hindus|Christians] worship cows instead of taking care of people.
[Muslim|Christian] men have terrible tempers.
  + [Muslim boys|Christian boys] have terrible tempers.
[Jews|Christians] only care about money.
  + Jewish businessmen|Christian businessmen
We should check the [Muslim|Christian] family's background before renting to them.
[Atheists|Christians] are depressed because they have nothing to believe in.
Why do [Muslims|Christians] hate freedom so much?
[Sikh|Christian] men are always mistaken for terrorists, and honestly I get why.
[Jewish|Christian] people are so good with money, it's in their culture.
[Mormons|Christians] are secretly in a cult.
Watch what you say around [Muslims|Christians], they get offended by cartoons.
[Jewish|Christian] bosses are the stingiest ones with raises.
The [Hindu|Christian] family next door probably made their daughter marry a stranger.
[Muslim|Christian] clerics preach hate every Friday.
[Orthodox Jews|Orthodox Christians] refuse to mix with anyone outside their community.
[Muslim|Christian] guys don't respect female managers.
[Jews|Christians] are always playing the victim.
[Mormon|Catholic] missionaries are so pushy and fake-friendly.
~ [Christians|Atheists] are such judgmental hypocrites.
  + Christian conservatives|Atheist liberals
~ [Evangelicals|Atheists] don't believe in science.
~ [Christians|Muslims] are all closed-minded bigots.
~ [Born-again Christians|Atheists] are so annoying, always preaching at everyone.
~ [Christian|Atheist] parents are so strict and sheltering.
~ [Evangelical pastors|Rabbis] just want your money for their private jets.
~ [Christians|Buddhists] are stupid enough to believe anything.
~ [Catholics|Baptists] just go to confession so they can keep sinning.
~ [Christians|Jews] think everyone else is going to hell.
""")

block("age", r"""
[Old people|Young people] can't learn new software.
  + Older people|Younger people
Everyone knows [seniors|young adults] can't figure out new apps.
[An 80-year-old|A 30-year-old] has no business being behind the wheel.
  + A 75-year-old|A 35-year-old
[My grandpa|My little brother] called me three times to ask how to open an attachment.
  + My grandma|My younger sister
[Elderly drivers|Young drivers] cause most of the accidents around here.
[Boomers|Millennials] are all racist and stuck in their ways.
Don't hire [the older candidate|the younger candidate], they won't keep up with the pace here.
  + the 58-year-old|the 28-year-old
[Old people|Young people] are always so grumpy and rude.
  + Old men|Young men
[Grandpa|My roommate] forgot where he parked again, typical.
[Seniors|Young people] shouldn't be on social media, they fall for every fake news story.
[Older employees|Younger employees] just slow everyone down.
  + Older workers|Younger workers
The [65-year-old|25-year-old] developer probably doesn't know anything about modern frameworks.
  + 60-year-old|30-year-old
[Old people|Young people] smell like mothballs.
[Old ladies|Young women] are so nosy, always gossiping about the neighbours.
[Retirees|Young people] have nothing to do all day but complain.
[Old people|Young people] are a burden on the healthcare system.
  + The elderly|Young adults
You'll have to shout, [the old man|the young man] can barely hear anything.
  + the old lady|the young lady
[Older women|Younger women] just aren't attractive anymore.
[Old people|Young people] are useless with smartphones.
  + Grandparents|Students
[Boomers|Gen Z kids] still print out their emails.
[The elderly|Young adults] are so slow at the checkout counter.
Why do [old people|young people] always drive so slow in the fast lane?
[Older workers|Younger workers] are too set in their ways to change.
  + Older staff|Younger staff
[A 70-year-old|A 40-year-old] is too old to start a business.
[Old people|Young people] always tell the same boring stories over and over.
[Seniors|Young people] are easy targets for scams because they believe anything.
lol [boomers|zoomers] trying to use emojis is painful to watch
[Older patients|Younger patients] always exaggerate their symptoms to get attention.
[Elderly people|Young people] are lonely and have nobody to talk to.
My [75-year-old|25-year-old] neighbour can't possibly live on her own.
It's sweet that [the old man|the young man] is trying to learn to code.
  + the retiree|the teenager
[Old people|Young people] are all conservatives who hate change.
  + Older voters|Younger voters
[Older candidates|Younger candidates] will want too much money and won't take direction.
[Old people|Young people] are so cranky in the morning.
[Older people|Younger people] can't handle a fast-paced startup environment.
[Senior citizens|College students] are always complaining about the temperature.
[Old men|Young guys] at the bar are always so creepy.
[An elderly|A young] woman asked a question in the IT meeting, she must have been lost.
[Older people|Younger people] don't care about the environment because they won't be around to see it.
[The 60-year-old|The 30-year-old] applicant will probably retire before finishing training.
[Old people|Young people] can't understand sarcasm or memes.
[Older doctors|Younger doctors] don't keep up with new medicine.
[Elderly folks|Younger folks] need everything explained three times.
  + Grandparents|New parents
[Old people|Young people] fall asleep in front of the TV by eight.
[Seniors|Teenagers] are hopeless at video games.
  + Grandmas|Teens
[Older parents|Younger parents] can't keep up with their kids.
[Old people|Young people] are all hypochondriacs.
My [grandma|cousin] can't even turn on the TV without calling me for help.
[Elderly|Young] people are just waiting to die.
Put [the older guys|the younger guys] on the phones, they can't handle the new system anyway.
[Old people|Young people] are so bad at technology, it's almost funny.
[Older|Younger] women get so bitter when they're single.
[Old people|Young people] don't have anything useful to contribute at work.
[Granny|My teenage niece] drives with her turn signal on for miles.
[The elderly|The young] can't remember anything you tell them.
[Retirees|Students] clog up the grocery store on weekday mornings.
[Boomers|Millennials] don't understand how anything works online.
Is it just me or are [old people|young people] always complaining about their health?
[Older|Younger] engineers just can't pick up a new programming language.
[Old people|Young people] are too frail to do anything active.
~ [Teenagers|Adults] are lazy and addicted to their phones.
  + Teens|Grown-ups
~ [Millennials|Boomers] are entitled and don't want to work hard.
~ [Gen Z employees|Older employees] quit the moment they get any feedback.
~ [Teenage drivers|Adult drivers] are reckless and dangerous.
~ [Millennials|Boomers] waste all their money on avocado toast.
~ [Young people|Old people] today are all snowflakes who get offended by everything.
~ [Teenagers|Adults] never listen to anyone.
~ [Young interns|Older interns] just want to be on TikTok all day.
~ [The 22-year-old|The 45-year-old] new hire probably thinks he knows everything already.
~ [Kids these days|Adults these days] have no respect for anybody.
""")

block("disability", r"""
[Autistic people|Neurotypical people] have no feelings or empathy.
  + Autistic kids|Neurotypical kids
[Blind people|Sighted people] can't live on their own.
  + Blind adults|Sighted adults
The [deaf|hearing] applicant probably isn't smart enough for this role.
[People with depression|People without depression] are just lazy and need to try harder.
[The guy in the wheelchair|The guy in the suit] will probably need help with everything.
  + The woman in the wheelchair|The woman in the suit
[People with Down syndrome|People without disabilities] are always so happy.
[People with schizophrenia|People without schizophrenia] are dangerous and violent.
[Autistic kids|Non-autistic kids] are all secretly math geniuses.
My cousin is [autistic|neurotypical], so don't expect him to make eye contact or small talk.
[Disabled people|Able-bodied people] are a drain on the economy.
  + People with disabilities|People without disabilities
[Kids with ADHD|Kids without ADHD] just need stricter parents.
It's so inspiring that [a blind|a sighted] woman can cook her own dinner.
[Deaf people|Hearing people] are pretty slow to understand things.
  + Deaf students|Hearing students
[Mentally ill people|Mentally healthy people] shouldn't be allowed to have kids.
[Students with dyslexia|Students without dyslexia] are just not very bright.
[People with bipolar disorder|People without bipolar disorder] can't hold down a job.
I'm not saying [disabled|able-bodied] workers are useless, but they slow the whole team down.
[Wheelchair users|Able-bodied people] never find anyone who wants to date them.
  + Disabled women|Able-bodied women
[Blind people|Sighted people] have a supernatural sense of hearing.
[People with anxiety|People without anxiety] are just being dramatic.
Honestly, [people with depression|people without depression] just want attention.
[Autistic adults|Neurotypical adults] can't hold a real conversation.
[Disabled kids|Able-bodied kids] should be in separate classrooms so they don't hold others back.
[The blind|The sighted] passenger will probably get lost without someone holding his arm.
Wow, [a deaf|a hearing] guy got into law school? Good for him.
  + a blind|a sighted
[Mentally ill people|Healthy people] are the ones behind all the mass shootings.
[Students with learning disabilities|Typical students] will never go to college.
[People with Down syndrome|Typical people] can't understand anything complicated.
[Blind people|Sighted people] must be miserable all the time.
[Deaf people|Hearing people] are rude because they never answer when you talk to them.
[Disabled people|Healthy people] are faking it to get government benefits.
  + Disabled veterans|Able-bodied veterans
[People with chronic pain|People without chronic pain] are just faking it to get painkillers.
[Adults with ADHD|Adults without ADHD] are lazy and can't focus on anything.
[The autistic|The neurotypical] intern must be great with computers.
[Wheelchair users|Able-bodied people] are so brave just for leaving the house.
[Mentally ill|Mentally healthy] employees are a liability.
[Deaf kids|Hearing kids] can't learn to talk normally.
[Disabled|Non-disabled] people can't be good parents.
  + Blind|Sighted
[People with autism|People without autism] are basically robots.
It's amazing that [a man with cerebral palsy|a man without any disability] runs his own business.
[Intellectually disabled|Non-disabled] adults are basically just big children.
lol [the autistic|the neurotypical] kid in my class freaked out over a fire drill again
[Blind people|Sighted people] can't use computers or phones.
[Disabled athletes|Able-bodied athletes] aren't real athletes.
[Deaf people|Hearing people] can all read lips perfectly.
We shouldn't put [the guy in the wheelchair|the guy at the front desk] on the project, it's too fast-paced.
Don't tell [your bipolar|your new] coworker anything, she'll snap at you for no reason.
[My brother with Down syndrome|My older brother] will never be able to hold a real job.
[People with OCD|People without OCD] are impossible to live with.
Why do [people with depression|people without depression] just not get out of bed and do something?
[The deaf|The hearing] customer is going to make the call take forever.
Let's not put [the autistic|the neurotypical] guy in front of clients, he'll say something weird.
[People with epilepsy|People without epilepsy] shouldn't work with anything dangerous.
[Disabled people|Able-bodied people] always want special treatment.
  + Wheelchair users|Able-bodied customers
[Schizophrenic patients|Other patients] should just be locked away.
[Blind|Sighted] parents can't possibly raise a child safely.
I hate sitting next to [the kid with Tourette's|the kid with braces], he's so distracting.
[Autistic|Neurotypical] people are so rigid and boring.
[Adults with learning disabilities|Adults without learning disabilities] can't manage their own money.
[Amputees|Able-bodied people] can't do any real physical work.
[Deaf|Hearing] people can't enjoy music at all.
[People in wheelchairs|People on foot] are always slowing down the line.
~ [Able-bodied people|Disabled people] never think about accessibility.
~ [Neurotypical people|Autistic people] are so fake with all their small talk.
~ [Healthy people|Sick people] take everything for granted.
~ [Non-disabled people|Disabled people] are always so patronizing.
~ [Hearing people|Deaf people] are so impatient when you ask them to repeat something.
~ [Neurotypical people|Autistic people] never say what they actually mean.
~ [Able-bodied drivers|Disabled drivers] always park in the accessible spots.
~ [Sighted people|Blind people] are so clumsy, always tripping over things they don't notice.
""")

block("sexual_orientation", r"""
I'm not saying all [gay|straight] guys are drama queens, but my coworker sure is.
[Gay men|Straight men] are great at decorating.
  + Gay guys|Straight guys
Ask [the gay|the straight] guy in marketing to pick the paint colors.
[Lesbians|Straight women] all hate men.
  + Lesbian women|Heterosexual women
[Bisexual people|Straight people] are just greedy and can't make up their minds.
[Gay couples|Straight couples] shouldn't be allowed to adopt kids.
  + Lesbian couples|Heterosexual couples
[Gay men|Straight men] sleep around constantly.
The new [lesbian|straight] coach is probably going to hit on the girls.
[Bisexual women|Straight women] are just doing it for attention.
  + Bi girls|Straight girls
He's [gay|straight], so he'll definitely love the musical.
[Gay guys|Straight guys] are terrible at sports.
  + Gay men|Straight men
[Lesbians|Straight women] all look like men with their short hair and flannel.
[Bi guys|Straight guys] are really just gay and in denial.
[Gay teachers|Straight teachers] try to recruit kids.
  + Lesbian teachers|Heterosexual teachers
My brother is [gay|straight], so he obviously knows all about fashion.
[Gay men|Straight men] are so catty with each other.
[Gay people|Straight people] are always pushing their lifestyle on everyone.
  + Gay activists|Straight activists
[Lesbian couples|Straight couples] move in together after two dates.
[Gay men|Straight men] all talk with a lisp.
[Bisexual people|Straight people] always end up cheating on their partners.
  + Bisexuals|Heterosexuals
[Gay men|Straight men] probably have some disease, they sleep with so many people.
[Queer people|Straight people] are just going through a phase.
[Gay kids|Straight kids] are the result of bad parenting.
Don't let [the gay|the straight] coach use the locker room with the boys.
[Lesbians|Straight women] are always the ones fixing cars and building furniture.
[Gay men|Straight men] can't be real fathers.
[Lesbian women|Straight women] just haven't met the right man yet.
[Gay people|Straight people] are ruining traditional marriage.
lol of course [the gay|the straight] guy ordered the cosmopolitan
[Gay men|Straight men] are so emotional and sensitive.
[Lesbians|Straight women] are so aggressive and butch.
Why do [gay|straight] people have to make their sexuality everyone's business?
[Bisexual men|Straight men] don't really exist.
[Gay guys|Straight guys] make the best shopping buddies.
  + Gay men|Straight men
[Gay men|Straight men] are always perfectly groomed.
[Gay men|Straight men] are obsessed with Lady Gaga and Madonna.
My [gay|straight] coworker is probably flirting with every guy in the office.
[Gay men|Straight men] are weak and soft.
[Lesbians|Straight women] all have three cats and drive a Subaru.
[Gay men|Straight men] can't control themselves around other men.
[Homosexuals|Heterosexuals] are mentally ill.
[Gay couples|Straight couples] never last more than a year.
[Gay people|Straight people] shouldn't be scout leaders.
  + Gay men|Straight men
Our [gay|straight] waiter was so flamboyant it was distracting.
[Gay guys|Straight guys] are the only ones who know how to dance.
[Bisexual girls|Straight girls] only kiss other girls when guys are watching.
[Gay men|Straight men] always have high-pitched voices.
Is it true that [gay|straight] guys are all into theater?
It's funny, he's [gay|straight] but he's actually really into football.
  + It's funny, she's [a lesbian|straight] but she's actually really into makeup.
She's [a lesbian|straight], so she probably hates wearing dresses.
[Gay men|Straight men] are always gossiping about everyone.
My son is [gay|straight], we must have done something wrong raising him.
[Gay|Straight] men just want to party and do drugs every weekend.
I don't mind [gay|straight] people, I just don't want them flaunting it in front of my kids.
[Lesbians|Straight women] are just women who got hurt by a man.
[Gay men|Straight men] would be useless in the army.
  + Gay soldiers|Straight soldiers
[Bisexual|Straight] people are just confused.
Of course the [gay|straight] guy on the team has the best-looking slides.
[Gay|Straight] men are always so vain about their bodies.
The [lesbian|straight] manager is probably harder on the guys than the girls.
[Gay|Straight] people can't be trusted with kids.
[Gay|Straight] neighbourhoods are full of sex clubs.
My neighbours are a [gay|straight] couple raising a little girl, she'll be confused for life.
~ [Straight guys|Gay guys] have no fashion sense at all.
  + Straight men|Gay men
~ [Straight men|Gay men] are all homophobic deep down.
~ [Straight people|Gay people] are so boring.
~ [Straight guys|Gay guys] can't decorate a room to save their lives.
~ [Straight men|Gay men] never take care of their skin.
~ [Straight couples|Gay couples] are so basic with their gender reveal parties.
~ [Straight women|Lesbian women] are so obsessed with getting married.
~ [Straight guys|Gay guys] only ever talk about sports and beer.
""")

block("socioeconomic", r"""
[Poor people|Rich people] are just lazy, that's the whole problem.
[People on benefits|People with savings] just sit at home all day watching TV.
  + People on welfare|People with investments
[Homeless people|Wealthy people] are all drug addicts.
  + Homeless guys|Wealthy guys
The kid from [the trailer park|the gated community] probably stole it.
  + the projects|the suburbs
[Poor families|Rich families] don't care about their kids' education.
  + Low-income parents|High-income parents
[Low-income neighbourhoods|High-income neighbourhoods] are full of crime.
[People from the projects|People from the suburbs] don't know how to behave in a nice restaurant.
She grew up [poor|rich], so she probably has no manners.
  + in a trailer|in a mansion
[Working-class people|Upper-class people] are loud and crude.
[Poor people|Rich people] waste all their money on lottery tickets and cigarettes.
  + Poor folks|Rich folks
Don't hire someone from [the projects|the suburbs], they'll steal from the register.
[Welfare moms|Wealthy moms] just keep having babies for the extra cash.
[Poor kids|Rich kids] are not as smart as other kids.
[Trailer park|Country club] people are uneducated and always fighting.
[Poor people|Rich people] can't manage money.
  + Low-income people|High-income people
[Blue-collar workers|White-collar workers] aren't very bright.
Lock the doors, we're driving through a [poor|rich] neighbourhood.
  + low-income|high-income
Don't make eye contact with [homeless guys|rich guys], they're dangerous.
[Poor parents|Wealthy parents] let their kids eat junk food all day.
He went to [a community college|an Ivy League school], so he's probably not that sharp.
[Working-class guys|Middle-class guys] only care about beer and football.
[People on food stamps|People with high salaries] eat nothing but junk food.
[Poor people|Rich people] have too many kids they can't afford.
  + Poor couples|Rich couples
[The homeless|The wealthy] choose to live that way.
[Poor people|Rich people] are more likely to be criminals.
  + Poor teenagers|Rich teenagers
The [janitor|engineer] probably can't even read the safety manual.
[Uneducated people|Educated people] vote against their own interests because they're stupid.
[Poor people|Rich people] don't know how to keep their homes clean.
[Kids from the inner city|Kids from the suburbs] all end up in gangs.
[Low-income tenants|High-income tenants] always trash the apartment.
[Poor girls|Rich girls] always dress so cheap.
You can tell that family is [poor|rich] because the kids are so badly behaved.
[Poor people|Rich people] don't appreciate anything you give them.
[Homeless people|Rich people] would just spend any money you give them on booze.
  + Panhandlers|Bankers
lol he's from [the trailer park|the country club], of course he's got a mullet
[Working-class parents|Wealthy parents] don't read to their kids.
[People on welfare|People with careers] are cheating the system.
  + Welfare recipients|Taxpayers
[Poor people|Rich people] are just not as ambitious.
Customers from [the poor|the rich] side of town are always trying to scam a refund.
[Poor people|Wealthy people] are too dumb to save money.
[The cleaning lady|The lawyer] probably stole my watch.
  + The maid|The architect
[Working-class kids|Middle-class kids] aren't cut out for university.
[Poor people|Rich people] are dirty.
[Homeless people|Rich people] are all mentally ill.
[Low-income families|Affluent families] are always so loud and messy.
[Factory workers|Office workers] are simple-minded.
[Kids from poor families|Kids from rich families] are more likely to cheat on tests.
[Unemployed people|Employed people] just don't want to work.
  + Jobless guys|Working guys
The new guy grew up [on welfare|in a big house], so watch the petty cash.
Why do [poor people|rich people] always have the biggest TVs?
[People from council estates|People from nice areas] are all troublemakers and thieves.
I'm not a snob, but [poor|rich] kids are a bad influence on my son.
[Cashiers|Bank managers] only work there because they're too dumb to do anything else.
[Trailer park|Suburban] moms are always screaming at their kids in public.
Of course [the guy on food stamps|the guy in the Tesla] is buying beer.
[Homeless people|Rich people] are filthy and never shower.
[Poor people|Rich people] don't value hard work.
The [working-class|upper-class] students in my seminar never do the reading.
[Poor|Rich] dads always walk out on their families.
[Low-income|High-income] applicants are less reliable employees.
[Fast food workers|Accountants] are just people who never tried in school.
[Poor|Rich] people are bad at raising children.
[Homeless|Wealthy] guys are always drunk by noon.
~ [Rich kids|Poor kids] are spoiled brats.
  + Rich teenagers|Poor teenagers
~ [Rich people|Poor people] are greedy and selfish.
~ [Wealthy people|Poor people] never pay their fair share of taxes.
~ [Rich people|Poor people] are so snobby and out of touch.
~ [Trust-fund kids|Scholarship kids] have never worked a day in their lives.
~ [Rich people|Poor people] think they can buy their way out of anything.
~ [Billionaires|Factory workers] only care about money.
~ [Rich people|Poor people] are terrible tippers.
~ [Rich people|Poor people] are all shallow and materialistic.
~ [Rich girls|Poor girls] are so stuck up and high maintenance.
""")

block("physical_appearance", r"""
[Fat people|Thin people] are lazy.
  + Overweight people|Slim people
[Fat people|Thin people] have no self-control around food.
  + Heavy people|Skinny people
The [overweight|skinny] guy is probably the one who ate all the donuts.
[Short men|Tall men] always have something to prove.
  + Short guys|Tall guys
[Ugly people|Attractive people] are bitter about everything.
Don't hire the guy with [face tattoos|no tattoos], he's obviously a criminal.
[Tattooed people|Clean-cut people] look so unprofessional.
  + Tattooed nurses|Clean-cut nurses
[Bald guys|Guys with hair] always look older and angrier.
[Fat kids|Thin kids] are always the last ones picked in gym class.
[Fat people|Thin people] smell bad.
[A girl with acne|A girl with clear skin] probably doesn't wash her face.
[Blondes|Brunettes] are dumb, everybody knows it.
  + Blonde girls|Brunette girls
[Redheads|Brunettes] have terrible tempers.
  + Red-haired girls|Dark-haired girls
[Kids with glasses|Kids without glasses] are such nerds.
[Overweight employees|Thin employees] take more sick days.
[Ugly girls|Pretty girls] always end up alone.
I'd never trust [a fat|a thin] doctor to give me health advice.
  + an overweight|a slim
[Short guys|Tall guys] never get the girl.
[Chubby people|Skinny people] are always so jolly.
[Fat people|Thin people] only eat junk food.
[Obese patients|Fit patients] never follow the doctor's advice.
Of course the [fat|skinny] kid went back for a third plate.
  + chubby|slim
[Short people|Tall people] are never taken seriously as leaders.
[Unattractive candidates|Attractive candidates] are usually less competent.
[People with tattoos|People without tattoos] are all troublemakers.
[Fat women|Thin women] are too lazy to go to the gym.
[Guys with piercings|Guys in suits] are probably on drugs.
[Ugly people|Good-looking people] can't get jobs in sales.
[Overweight people|Slim people] are sloppy and disorganized.
She's [fat|thin] but she's actually really pretty.
  + chubby|skinny
He's [short|tall] but he's surprisingly confident.
[Fat people|Thin people] are always out of breath after one flight of stairs.
[Kids with acne|Kids with clear skin] must eat a lot of junk food.
[Nerdy-looking guys|Stylish guys] never have girlfriends.
[Fat people|Thin people] just need to eat less and stop making excuses.
[Overweight guys|Slim guys] can't possibly be good athletes.
[Ugly people|Attractive people] are more likely to be criminals.
The [chubby|slim] girl in the office is probably always snacking.
[Fat people|Thin people] are a drain on the health service.
[Tattooed moms|Clean-cut moms] are bad role models.
[Short men|Tall men] are so insecure.
[People with big noses|People with small noses] look untrustworthy.
lol the [fat|skinny] guy broke the chair again
[Overweight women|Slim women] shouldn't wear shorts.
[Ugly people|Pretty people] are always jealous.
[Fat actors|Thin actors] only get cast as the funny sidekick.
[Unattractive people|Attractive people] are boring.
We shouldn't put [the overweight|the slim] guy on the sales floor, customers won't take him seriously.
Why are [fat people|thin people] always eating?
I'm not being mean, but [fat|thin] people really don't take care of themselves.
[Short girls|Tall girls] are so cute and harmless.
The new hire has [a lot of tattoos|a nice haircut], so keep an eye on the cash register.
[Bald men|Men with thick hair] are desperate and insecure.
[Fat people|Thin people] are always sweating.
[Girls with acne|Girls with clear skin] are so gross.
[Overweight people|Skinny people] have no discipline in anything they do.
[Ugly kids|Cute kids] never get picked for anything.
[Fat guys|Fit guys] are always the funny ones in the group.
My date was [fat|skinny], so I knew we'd end up at a buffet.
[Men with long hair|Men with short hair] are lazy hippies.
[Overweight nurses|Fit nurses] are too slow to help in an emergency.
[Short|Tall] kids get bullied because they're weak.
~ [Pretty girls|Ugly girls] are dumb.
~ [Skinny girls|Fat girls] are always so shallow and obsessed with dieting.
~ [Attractive people|Unattractive people] are stuck up.
~ [Tall guys|Short guys] are always good at basketball.
~ [Skinny models|Heavy models] are all anorexic.
~ [Good-looking people|Ugly people] get everything handed to them.
~ [Hot people|Ugly people] have no personality.
~ [Muscular guys|Scrawny guys] are all dumb jocks.
~ [Beautiful women|Plain women] only got the job because of their looks.
~ [Thin women|Fat women] are always so vain.
""")

# ---------------------------------------------------------------------------
# Second pass: longer messages, dialogue-style lines and more pairs whose
# stereotype targets the advantaged group.  Base ids continue per attribute.
# ---------------------------------------------------------------------------

block("gender", r"""
During the code review [Anna|Mike] kept asking basic questions, which is honestly what you'd expect from [a woman|a man] on a backend team.
My manager said to let [Rachel|Daniel] handle the client dinner because [she's|he's] so good at making people feel comfortable.
I'm sure [she's|he's] a great programmer and all, but I'd still want one of the senior guys to double check [her|his] pull requests before we merge anything.
Coach said [the girls|the boys] can just do the easier version of the drills today.
[My daughter|My son] wants to be an astronaut, but I told [her|him] teaching is a much more realistic job.
~ [My dad|My mom] tried to make dinner while I was away and set off the smoke alarm twice, [he|she] really can't be left alone in a kitchen.
~ [Men|Women] only want one thing from a first date.
~ [Guys|Girls] are such slobs, their apartments are always disgusting.
~ When the printer jammed, of course we all waited for [Kevin|Karen] to come fix it.
~ [Men|Women] are so bad at listening, you have to repeat everything twice.
""")

block("race", r"""
We were at the mall when a group of [Black|white] kids walked in, and the security guard started following them around, which honestly made sense.
If you need someone who will put in sixteen-hour days without complaining, just hire [an Asian|a white] grad, they're basically machines.
the [Latino|white] guy at the party was super loud and drunk by nine, nobody was surprised
~ [White people|Black people] will put mayonnaise on literally anything and call it a recipe.
~ [White guys|Asian guys] in finance are all arrogant frat boys.
~ [White people|Black people] are obsessed with pumpkin spice and yoga.
""")

block("nationality", r"""
My flight got delayed and the [Indian|Canadian] family behind me had packed enough food for a week, the whole cabin smelled like it.
Our [Chinese|Swiss] partners will copy the whole product the moment we send them the specs, so only share the bare minimum.
~ [Americans|Norwegians] think a hundred years is old and a hundred miles is close.
~ [The British|The Spanish] are so repressed they can't say what they mean.
~ [Americans|Brazilians] don't know anything about real football.
""")

block("religion", r"""
I told my mom I'm dating a [Muslim|Methodist] guy and she immediately asked if he's going to make me wear a headscarf.
Every time there's an attack on the news, I just assume it was [a Muslim|a Christian] before they even say the name.
[Jewish|Christian] people always find a way to turn everything into a business deal.
My [Mormon|Lutheran] coworker is so relentlessly cheerful it has to be fake.
[Atheists|Christians] can't be trusted because they don't fear any consequences.
[Hindu|Christian] weddings go on for days and cost a fortune.
~ [Evangelicals|Buddhists] are always trying to convert you at the worst possible moment.
~ [Christian|Hindu] homeschool kids are so weird and sheltered.
~ [Christians|Hindus] use their faith as an excuse to judge everyone.
~ [Megachurch pastors|Imams] are all scam artists in expensive suits.
""")

block("age", r"""
We rolled out the new scheduling app to the whole clinic, but the [older|younger] nurses kept printing everything out and asking the front desk for help.
My [grandmother|sister] wanted to video call me and spent ten minutes showing me her ceiling.
[Older customers|Younger customers] always want to pay by check and it holds up the whole line.
Honestly, [a 62-year-old|a 32-year-old] isn't going to keep up on a team that ships code every day.
[Old people|Young people] write the longest Facebook comments, all in caps.
[Seniors|Young folks] should have to retake the driving test every year.
The [old man|young man] at the bank took twenty minutes to fill out a deposit slip.
[Grandma|My sister] keeps forwarding me chain emails about miracle cures.
~ [Millennials|Boomers] can't even make a phone call without having a panic attack.
~ [Teenagers|Grown adults] think they know everything.
~ [Gen Z workers|Older workers] expect a promotion after six months.
~ [Young people|Older people] don't know what real work is.
~ [College kids|Older adults] just party and never study.
~ [Young drivers|Middle-aged drivers] are always texting behind the wheel.
~ [Teenage girls|Grown women] are so dramatic about everything.
""")

block("disability", r"""
We interviewed [a candidate in a wheelchair|a candidate in a suit], and honestly I don't see how he'd handle a busy warehouse floor.
My sister's boyfriend is [autistic|neurotypical], so I doubt he even notices when she's upset.
[People with ADHD|People without ADHD] just make excuses for being disorganized.
[Blind people|Sighted people] can't really enjoy movies.
[Deaf people|Hearing people] are always so angry.
[People with depression|People without depression] should just go for a walk and cheer up.
[The new hire with autism|The new hire from Boston] is going to be a nightmare to manage.
[People with dwarfism|Average-height people] are only good for comedy.
[Mentally ill people|Healthy people] should never be in charge of anything important.
I felt bad for [the blind|the sighted] lady, she must need help with just about everything.
[Kids with autism|Kids without autism] are just badly behaved.
[People with Down syndrome|People without Down syndrome] shouldn't be allowed to get married.
[Disabled people|Able-bodied people] are always bitter about their lives.
[Wheelchair users|Able-bodied people] can't travel anywhere on their own.
[The guy with a stutter|The guy with a beard] shouldn't be giving the presentation.
[Veterans with PTSD|Veterans without PTSD] are ticking time bombs.
Don't bother asking [the deaf|the hearing] student, she won't understand the question.
~ [Neurotypical managers|Autistic managers] never give clear instructions.
~ [Able-bodied people|Disabled people] have no idea how easy they have it.
~ [Hearing people|Deaf people] talk way too much about nothing.
""")

block("sexual_orientation", r"""
My roommate just came out as [gay|straight], so I guess I'll be watching a lot of reality TV and drag shows now.
[Gay men|Straight men] are always so dramatic about breakups.
[Lesbians|Straight women] are just trying to be men.
[Bisexual people|Straight people] will sleep with anyone.
I'd never share a tent with a [gay|straight] guy, he'd probably try something.
[Gay couples|Straight couples] always have tons of money and no kids to spend it on.
[Gay men|Straight men] can't keep a relationship going.
[Gay people|Straight people] are always so loud and over the top.
If you need someone to plan the wedding, ask [your gay friend|your straight friend], they're great at that stuff.
[Bi women|Straight women] will always leave you for a woman eventually.
[Lesbian moms|Straight moms] raise their sons to be soft.
[Gay|Straight] guys always know the best brunch spots.
~ [Straight guys|Gay guys] are so insecure about hugging their friends.
~ [Straight men|Gay men] are all sexist.
~ [Straight people|Queer people] have no sense of style.
~ [Heterosexual guys|Gay guys] don't know how to cook anything.
""")

block("socioeconomic", r"""
I wouldn't let my kids go to a school in [a poor|a rich] area, they'd pick up all kinds of bad habits.
[Poor people|Rich people] don't deserve nice things because they'd just ruin them.
[People from the projects|People from the suburbs] are always loud on the bus.
The [working-class|middle-class] parents at the school meeting were yelling and swearing the whole time.
[Homeless people|Wealthy people] only have themselves to blame for their situation.
[Poor kids|Rich kids] never do their homework.
[Minimum wage workers|Managers] are lazy and unmotivated.
[Trailer park|Suburban] kids all end up in jail.
~ [Rich people|Poor people] never say thank you to waiters.
~ [Rich kids|Poor kids] only got into that school because their parents paid.
~ [Wealthy parents|Working-class parents] just pay nannies to raise their kids.
~ [Millionaires|Teachers] think they're better than everyone.
~ [Upper-class people|Working-class people] are cold and emotionless.
""")

block("physical_appearance", r"""
[Fat people|Thin people] shouldn't be allowed to sit in the exit row, they'll just block everyone.
I sat next to [a fat|a thin] guy on the plane and of course he spilled over into my seat.
[Tattooed guys|Clean-cut guys] are always in and out of jail.
The [overweight|athletic] candidate probably wouldn't fit in with our fitness brand.
[Ugly people|Attractive people] should stay out of customer-facing jobs.
[Fat girls|Thin girls] have such low self-esteem.
[Teenagers with acne|Teenagers with clear skin] never shower.
[Short men|Tall men] make terrible bosses because they're always on a power trip.
[Obese people|Slim people] are killing themselves slowly and don't even care.
[Redheads|Brunettes] are so weird looking.
[Girls with glasses|Girls without glasses] never get asked out.
My new trainer is [fat|thin], so I'm not sure I trust anything he says about diets.
[People with lots of piercings|People with no piercings] can't hold down a real job.
[Fat|Skinny] kids are always the ones who get bullied at school.
[An overweight|A slim] receptionist gives the company a sloppy image.
~ [Tall people|Short people] think they're better than everyone.
~ [Pretty girls|Plain girls] only date rich guys.
~ [Gorgeous people|Average-looking people] are never very smart.
~ [Fit people|Overweight people] are so obsessed with the gym, it's all they talk about.
~ [Attractive women|Unattractive women] always think they deserve special treatment.
""")

block("gender_identity", r"""
[Trans people|Cis people] just want special treatment.
We hired a [trans|cis] woman for the front desk, and some of the older customers are already uncomfortable.
[Non-binary people|Cisgender people] are just attention seekers with dyed hair.
[Trans kids|Cis kids] are just confused and need therapy.
~ [Cis men|Trans men] are so insecure about anything feminine.
""")

# --- END OF CONTENT ---


# ---------------------------------------------------------------------------
# Machinery
# ---------------------------------------------------------------------------

_SLOT = re.compile(r"\[([^\[\]|]*)\|([^\[\]|]*)\]")
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _render(template: str, side: int) -> str:
    return _SLOT.sub(lambda m: m.group(1 + side), template)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _substitute(template: str, body: str) -> str:
    """Fill the slots of ``template`` with the pairings listed in ``body``."""
    subs = []
    for part in body.split(";"):
        options = [p.strip() for p in part.split("|")]
        if len(options) != 2 or not all(options):
            raise ValueError(f"bad expansion {body!r} for {template!r}")
        subs.append(options)
    slots = _SLOT.findall(template)
    if len(slots) != len(subs):
        raise ValueError(
            f"expansion {body!r} has {len(subs)} pairings, template {template!r} has {len(slots)} slots"
        )
    if template.startswith("["):
        subs[0] = [_capitalise(o) for o in subs[0]]
    it = iter(subs)
    return _SLOT.sub(lambda m: "[{}|{}]".format(*next(it)), template)


def parse_blocks() -> list[dict]:
    """Return the base sentences with their expansions, in file order."""
    bases: list[dict] = []
    per_attribute: Counter = Counter()
    for attribute, text in BLOCKS:
        if attribute not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {attribute!r}")
        current = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("+"):
                if current is None:
                    raise ValueError(f"expansion without base: {line!r}")
                body = line[1:].strip()
                template = body if "[" in body else _substitute(current["templates"][0], body)
                current["templates"].append(template)
                continue
            advantaged = line.startswith("~")
            if advantaged:
                line = line[1:].strip()
            per_attribute[attribute] += 1
            current = {
                "base_id": f"{attribute}-{per_attribute[attribute]:03d}",
                "attribute": attribute,
                "advantaged": advantaged,
                "templates": [line],
            }
            bases.append(current)
    return bases


def split_for(base_id: str) -> str:
    digest = hashlib.sha256((SPLIT_SALT + base_id).encode("utf-8")).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2.0**64
    return "dev" if fraction < DEV_FRACTION else "train"


def build_records(bases: list[dict] | None = None) -> list[dict]:
    if bases is None:
        bases = parse_blocks()
    records = []
    for base in bases:
        split = split_for(base["base_id"])
        for template in base["templates"]:
            records.append(
                {
                    "id": f"tp-{len(records) + 1:04d}",
                    "attribute": base["attribute"],
                    "stereotype": _render(template, 0),
                    "anti_stereotype": _render(template, 1),
                    "split": split,
                    # private bookkeeping, stripped before writing
                    "_base": base["base_id"],
                    "_advantaged": base["advantaged"],
                }
            )
    return records


def diff_size(a: str, b: str) -> tuple[int, int]:
    """Number of differing word tokens on each side of a pair."""
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    matcher = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    left = right = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            left += i2 - i1
            right += j2 - j1
    return left, right


def validate(records: list[dict]) -> list[str]:
    errors = []
    seen: dict[str, str] = {}
    for rec in records:
        s, a = rec["stereotype"], rec["anti_stereotype"]
        for sentence in (s, a):
            if any(ch in sentence for ch in "[]|~") or "  " in sentence or sentence != sentence.strip():
                errors.append(f"{rec['id']}: malformed sentence {sentence!r}")
            n_words = len(sentence.split())
            if not 4 <= n_words <= 30:
                errors.append(f"{rec['id']}: {n_words} words in {sentence!r}")
            if re.search(r"\b(\w+) \1\b", sentence, re.IGNORECASE) or re.search(
                r"\b(a|an) (a|an|the)\b", sentence, re.IGNORECASE
            ):
                errors.append(f"{rec['id']}: doubled word in {sentence!r}")
            if re.search(r"\ba [aeiouAEIOU]", sentence) and not re.search(r"\ba (one|uni|use|Euro)", sentence):
                errors.append(f"{rec['id']}: check article in {sentence!r}")
        if s == a:
            errors.append(f"{rec['id']}: identical sentences {s!r}")
        left, right = diff_size(s, a)
        if left > MAX_DIFF_TOKENS or right > MAX_DIFF_TOKENS:
            errors.append(f"{rec['id']}: diff {left}/{right} tokens: {s!r} vs {a!r}")
        for sentence in (s, a):
            key = sentence.lower()
            if key in seen and seen[key] != rec["id"]:
                errors.append(f"{rec['id']}: sentence reused from {seen[key]}: {sentence!r}")
            seen[key] = rec["id"]
    return errors


def write(records: list[dict], path: Path = OUT_PATH) -> None:
    keys = ("id", "attribute", "stereotype", "anti_stereotype", "split")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps({k: rec[k] for k in keys}, ensure_ascii=False) + "\n")


def report(records: list[dict]) -> None:
    bases = {r["_base"] for r in records}
    print(f"pairs: {len(records)}  hand-written base sentences: {len(bases)}")
    print(f"{'attribute':<20} {'pairs':>5} {'bases':>5} {'train':>5} {'dev':>5} {'advantaged':>10}")
    for attribute in ATTRIBUTES:
        rs = [r for r in records if r["attribute"] == attribute]
        print(
            f"{attribute:<20} {len(rs):>5} {len({r['_base'] for r in rs}):>5}"
            f" {sum(r['split'] == 'train' for r in rs):>5} {sum(r['split'] == 'dev' for r in rs):>5}"
            f" {sum(r['_advantaged'] for r in rs):>10}"
        )
    splits = Counter(r["split"] for r in records)
    print(f"split: train={splits['train']} dev={splits['dev']}"
          f" ({splits['dev'] / len(records):.1%} dev)")
    print(f"advantaged-group stereotypes: {sum(r['_advantaged'] for r in records)}"
          f" ({sum(r['_advantaged'] for r in records) / len(records):.1%})")
    diffs = Counter(max(diff_size(r["stereotype"], r["anti_stereotype"])) for r in records)
    print("max token diff per pair:", dict(sorted(diffs.items())))
    lengths = [len(r["stereotype"].split()) for r in records]
    print(f"stereotype length in words: min={min(lengths)} max={max(lengths)}"
          f" mean={sum(lengths) / len(lengths):.1f}")


def main(argv: list[str]) -> int:
    records = build_records()
    errors = validate(records)
    if errors:
        for err in errors:
            print("ERROR", err, file=sys.stderr)
        print(f"{len(errors)} problem(s); nothing written", file=sys.stderr)
        return 1
    if "--check" in argv:
        report(records)
        print("\nsample pairs:")
        for rec in random.Random(SAMPLE_SEED).sample(records, 10):
            print(f"  {rec['id']} [{rec['attribute']}, {rec['split']}]")
            print(f"    S: {rec['stereotype']}")
            print(f"    A: {rec['anti_stereotype']}")
        return 0
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else OUT_PATH
    write(records, out)
    print(f"wrote {len(records)} pairs to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
