"""The seed's own example, as a user writes it: a FastAPI service with a weather lookup and
notifications. Its distribution publishes the app itself as an mcp_runner entry point."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="Weather service")


class Weather(BaseModel):
    city: str
    temperature_c: float
    conditions: str


class Notification(BaseModel):
    recipient: str
    message: str


@app.get("/weather/{city}")
async def get_weather(city: str) -> Weather:
    """Current weather for a city."""
    return Weather(city=city, temperature_c=21.5, conditions="sunny")


@app.post("/notifications")
async def send_notification(notification: Notification) -> dict[str, str]:
    """Send a notification."""
    return {"status": "sent", "recipient": notification.recipient}
