/* SPDX-License-Identifier: MIT */
#include "util/util.h"
