"""``/decorum`` subcommands and App Home sections: the registries each Slack feature adds to, on the surface.

``SlackFeatures`` lives on the ``SlackSurface`` (``surface.features``): ``app.py`` has each admin feature register
its listeners, subcommands and Home part in a fixed order, so nothing depends on which module was imported
first. A subcommand handler gets a ``SlashCommand`` and must ``ack`` at once; a Home section returns its blocks
for one person and never raises. ``require`` is the permission check every admin subcommand makes.

Example::

    async def templates(cmd: SlashCommand) -> None:
        await cmd.ack(text="...")

    surface.features.add_command("templates", templates)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum.access import Principal
from decorum.bot import messages
from decorum.bot.slack.blocks import home_view
from decorum.errors import Forbidden, Unauthenticated

if TYPE_CHECKING:
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

COMMAND = "/decorum"


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """One ``/decorum`` invocation, as given to a subcommand handler."""

    name: str  # the subcommand
    args: str  # the text after it
    body: dict[str, Any]
    ack: AsyncAck
    respond: AsyncRespond
    client: AsyncWebClient
    context: AsyncBoltContext
    surface: SlackSurface


Subcommand = Callable[[SlashCommand], Awaitable[None]]
# (surface, client, user, team) -> that user's blocks of one App Home part; it never raises
HomeSection = Callable[["SlackSurface", AsyncWebClient, str, "str | None"], Awaitable[list[dict[str, Any]]]]


@dataclass
class SlackFeatures:
    """What the surface's features added: ``/decorum`` subcommands by name, App Home sections in order."""

    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    home_sections: list[HomeSection] = field(default_factory=list)

    def add_command(self, name: str, handler: Subcommand) -> None:
        if name in self.subcommands:
            raise ValueError(f"/decorum {name} is registered twice")
        self.subcommands[name] = handler

    def add_home(self, section: HomeSection) -> None:
        self.home_sections.append(section)


async def user_principal(surface: SlackSurface, client: AsyncWebClient, user: str,
                         team: str | None) -> Principal | None:
    """The role of a Slack user: by user id, or as a workspace admin when configured (``users.info``)."""
    access = surface.runtime.access
    if not user:
        return None
    is_admin = False
    if access.config.slack_workspace_admins and user not in access.config.slack_roles:
        try:
            info = (await client.users_info(user=user)).get("user") or {}
            is_admin = bool(info.get("is_admin") or info.get("is_owner"))
        except SlackApiError as exc:
            logger.warning("slack users.info failed team=%s error=%s", team, exc.response.get("error"))
    return access.slack_principal(user, pseudonym=surface.runtime.pseudonymiser.user(user),
                                  is_workspace_admin=is_admin)


async def slack_principal(cmd: SlashCommand) -> Principal | None:
    """The role of the person behind a command: by Slack user id, or as a workspace admin when configured."""
    return await user_principal(cmd.surface, cmd.client, str(cmd.body.get("user_id") or ""), cmd.context.team_id)


async def require(cmd: SlashCommand, permission: str) -> Principal | None:
    """``AccessControl.require`` for a Slack command; on refusal the person is told why (ephemeral) and ``None``."""
    who = await slack_principal(cmd)
    access, target = cmd.surface.runtime.access, f"{COMMAND} {cmd.name}"
    if who is None:  # Slack vouches for the person; they hold no role: a 403, not a 401
        user = cmd.surface.runtime.pseudonymiser.user(str(cmd.body.get("user_id") or ""))
        await asyncio.to_thread(access.record, actor=user, via="slack", action=permission, outcome="denied_403",
                                surface="slack", target=target)
        await cmd.ack(text=messages.slack_refused(permission, None, ""))
        return None
    try:
        return await asyncio.to_thread(access.require, who, permission, surface="slack", target=target)
    except (Unauthenticated, Forbidden) as exc:
        await cmd.ack(text=messages.slack_refused(permission, who.role if who else None, str(exc)))
        return None


async def home_for(surface: SlackSurface, client: AsyncWebClient, user: str, team: str | None) -> dict[str, Any]:
    """``user``'s App Home: the policy text and help, then each feature's section for them, in order."""
    sections = surface.features.home_sections
    parts = await asyncio.gather(*(section(surface, client, user, team) for section in sections))
    return home_view([block for part in parts for block in part])


async def refresh_home(surface: SlackSurface, client: AsyncWebClient, user: str, team: str | None) -> None:
    """Publish ``user``'s App Home again (after a change they made)."""
    try:
        await client.views_publish(user_id=user, view=await home_for(surface, client, user, team))
    except SlackApiError as exc:
        logger.warning("slack views.publish failed team=%s error=%s", team, exc.response.get("error"))
