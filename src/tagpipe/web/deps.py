"""FastAPI dependencies: the services object of the running app, for every route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tagpipe.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
