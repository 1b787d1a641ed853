"""``manage.py runserver`` (what ``make run`` starts), served by devstack's ``DevServer``:
no delayed-ACK stall on each response, a backlog that takes a burst (devstack/server.py).

It extends staticfiles' runserver, which it shadows (devstack is installed before
``django.contrib.staticfiles``), so static files are still served in debug mode.
"""

from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver

from devstack.server import DevServer


class Command(StaticfilesRunserver):
    server_cls = DevServer
