from django.contrib import admin

from upgrade_planner.installations.models import Installation, Tentacle


class TentacleInline(admin.TabularInline):
    model = Tentacle
    extra = 0
    fields = ["name", "hostname", "port", "version", "communication_style", "online"]
    show_change_link = True


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    list_display = ["name", "server_version", "target_version", "created_at"]
    search_fields = ["name"]
    inlines = [TentacleInline]


@admin.register(Tentacle)
class TentacleAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "version", "communication_style", "installation"]
    list_filter = ["communication_style", "online", "restricted_permissions"]
    search_fields = ["name", "hostname"]
    list_select_related = ["installation"]
