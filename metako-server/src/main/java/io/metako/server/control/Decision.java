package io.metako.server.control;

import java.util.List;

/** What a controller tick decided, and the one sentence that says why. */
public record Decision(List<ControllerAction> actions, String reason) {
    public Decision {
        actions = List.copyOf(actions);
    }

    static Decision none(String reason) {
        return new Decision(List.of(), reason);
    }
}
